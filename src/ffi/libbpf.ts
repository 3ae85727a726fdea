/**
 * The one libbpf FFI binding table (libbpf.so.1, ABI of libbpf ≥ 1.1). libbpf loads, relocates
 * (CO-RE) and attaches; it is never on the per-event path (the ring buffer is walked in JS).
 *
 * @module
 */

const LIBBPF_SYMBOLS = {
  libbpf_major_version: { parameters: [], result: "u32" },
  libbpf_minor_version: { parameters: [], result: "u32" },
  libbpf_set_print: { parameters: ["function"], result: "pointer" },
  bpf_object__open_mem: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  // The same on a thread of Deno's blocking pool (a promise): two objects verified at once. Only
  // while libbpf's print callback is unset: a callback from that thread would wait for this one.
  bpf_object__load_background: {
    name: "bpf_object__load",
    parameters: ["pointer"],
    result: "i32",
    nonblocking: true,
  },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__name: { parameters: ["pointer"], result: "pointer" },
  bpf_object__next_program: { parameters: ["pointer", "pointer"], result: "pointer" },
  bpf_object__next_map: { parameters: ["pointer", "pointer"], result: "pointer" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_program__name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__section_name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__set_autoload: { parameters: ["pointer", "bool"], result: "i32" },
  bpf_program__set_log_buf: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  bpf_program__set_log_level: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_program__attach_iter: { parameters: ["pointer", "pointer"], result: "pointer" },
  bpf_program__attach_tracepoint: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "pointer",
  },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpf_link__fd: { parameters: ["pointer"], result: "i32" },
  bpf_iter_create: { parameters: ["i32"], result: "i32" },
  bpf_map__name: { parameters: ["pointer"], result: "pointer" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__max_entries: { parameters: ["pointer"], result: "u32" },
  bpf_map__set_max_entries: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_map__value_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__key_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__type: { parameters: ["pointer"], result: "u32" },
  bpf_map__map_flags: { parameters: ["pointer"], result: "u32" },
  bpf_map__btf_key_type_id: { parameters: ["pointer"], result: "u32" },
  bpf_map__btf_value_type_id: { parameters: ["pointer"], result: "u32" },
  // opts: struct bpf_map_create_opts { size_t sz; __u32 btf_fd; __u32 btf_key_type_id;
  // __u32 btf_value_type_id; __u32 btf_vmlinux_value_type_id; __u32 inner_map_fd;
  // __u32 map_flags; __u64 map_extra; __u32 numa_node; __u32 map_ifindex; } (48 bytes in 1.1).
  bpf_map_create: {
    parameters: ["u32", "buffer", "u32", "u32", "u32", "buffer"],
    result: "i32",
  },
  bpf_map__initial_value: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_map__set_initial_value: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  bpf_map__reuse_fd: { parameters: ["pointer", "i32"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_map_get_next_key: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_obj_get_info_by_fd: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_enable_stats: { parameters: ["i32"], result: "i32" },
  libbpf_probe_bpf_prog_type: { parameters: ["i32", "pointer"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  bpf_prog_get_next_id: { parameters: ["u32", "buffer"], result: "i32" },
  bpf_prog_get_fd_by_id: { parameters: ["u32"], result: "i32" },
  // opts: struct bpf_tracepoint_opts { size_t sz; __u64 bpf_cookie; } (libbpf >= 1.0).
  bpf_program__attach_tracepoint_opts: {
    parameters: ["pointer", "buffer", "buffer", "buffer"],
    result: "pointer",
  },
  // Policy entry programs bound to one kernel function or LSM hook before load.
  bpf_program__set_attach_target: { parameters: ["pointer", "i32", "buffer"], result: "i32" },
  // opts: struct bpf_kprobe_opts { size_t sz; __u64 bpf_cookie; size_t offset; bool retprobe; }
  // (32 bytes in libbpf 1.1; later versions append fields and accept the shorter size).
  bpf_program__attach_kprobe_opts: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "pointer",
  },
  // opts: struct bpf_kprobe_multi_opts { size_t sz; const char **syms; const unsigned long *addrs;
  // const __u64 *cookies; size_t cnt; bool retprobe; } (48 bytes in libbpf 1.1). A null pattern
  // with `syms` lets the kernel resolve the names: a pattern makes libbpf parse /proc/kallsyms.
  bpf_program__attach_kprobe_multi_opts: {
    parameters: ["pointer", "pointer", "buffer"],
    result: "pointer",
  },
  // vmlinux BTF, for a function's argument count (where fexit finds the return value).
  btf__load_vmlinux_btf: { parameters: [], result: "pointer" },
  btf__free: { parameters: ["pointer"], result: "void" },
  // An opened object's BTF, copied (btf__new) and loaded on its own for maps vigil creates.
  bpf_object__btf: { parameters: ["pointer"], result: "pointer" },
  btf__raw_data: { parameters: ["pointer", "buffer"], result: "pointer" },
  btf__new: { parameters: ["buffer", "u32"], result: "pointer" },
  btf__load_into_kernel: { parameters: ["pointer"], result: "i32" },
  btf__fd: { parameters: ["pointer"], result: "i32" },
  btf__find_by_name_kind: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  btf__type_by_id: { parameters: ["pointer", "u32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libbpf's symbols as typed by Deno. */
export type Libbpf = Deno.DynamicLibrary<typeof LIBBPF_SYMBOLS>["symbols"];

/** Owner of the dlopen'ed libbpf. */
export interface LibbpfHandle {
  readonly symbols: Libbpf;
  readonly version: string;
  close(): void;
}

/** dlopens libbpf from `path` (a soname or a /proc/self/fd path of the embedded copy). */
export function openLibbpf(path: string): LibbpfHandle {
  const lib = Deno.dlopen(path, LIBBPF_SYMBOLS);
  const version = `${lib.symbols.libbpf_major_version()}.${lib.symbols.libbpf_minor_version()}`;
  return { symbols: lib.symbols, version, close: () => lib.close() };
}

/** NUL-terminated UTF-8 for `buffer` parameters. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Reads a C string returned by libbpf (null → ""). */
export function readCString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : Deno.UnsafePointerView.getCString(ptr);
}
