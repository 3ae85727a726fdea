/**
 * A loaded BPF object: open from embedded bytes, patch knobs and map sizes, load, attach. The
 * object owns its programs, maps and links; {@link BpfObject.close} releases them all, and a failed
 * load releases everything it had created before throwing.
 *
 * @module
 */
import { cString, readCString } from "../ffi/libbpf.ts";
import { readErrno } from "../ffi/libc.ts";
import { BpfError, logTail } from "./errors.ts";
import { BpfLink } from "./link.ts";
import { MapHandle } from "./map.ts";
import type { BpfRuntime } from "./runtime.ts";

/** How to prepare an object before it is loaded. */
export interface LoadOptions {
  /** Name for messages, e.g. "process.bpf.o". */
  readonly name: string;
  /** Patches the `.rodata` knobs in place (offsets come from the generated ABI module). */
  readonly rodata?: (view: DataView) => void;
  /** Map name → max_entries (ring buffer sizes, table sizes). */
  readonly maxEntries?: Readonly<Record<string, number>>;
  /** Program name → whether to load it (default: as the object says). */
  readonly autoload?: Readonly<Record<string, boolean>>;
  /** Map name → fd of an existing map to share instead of creating one. */
  readonly reuseMaps?: Readonly<Record<string, number>>;
  /**
   * Program → the kernel function (fentry, fexit) or LSM hook (`file_open`) it binds to before
   * load, for programs whose section names none.
   */
  readonly attachTargets?: Readonly<Record<string, string>>;
}

/** A map's definition in an opened object. */
export interface MapSpec {
  readonly name: string;
  /** enum bpf_map_type. */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** Type ids of key and value in the object's BTF ({@link BpfObject.btfImage}); 0 = none. */
  readonly btfKeyTypeId: number;
  readonly btfValueTypeId: number;
}

// Verifier logs can be large; only the tail is quoted, but the kernel needs room to write it.
const LOG_BUFFER_BYTES = 1 << 20;

/** An open, loaded BPF object. */
export class BpfObject implements Disposable {
  readonly name: string;
  readonly #rt: BpfRuntime;
  #obj: Deno.PointerObject | null;
  readonly #links = new Set<BpfLink>();

  /** The ELF image libbpf reads from until load is done: held here so it cannot be collected. */
  #image: Uint8Array | null;

  private constructor(rt: BpfRuntime, name: string, obj: Deno.PointerObject, image: Uint8Array) {
    this.#rt = rt;
    this.name = name;
    this.#obj = obj;
    this.#image = image;
  }

  /** Opens `bytes`, applies `options`, loads into the kernel. Throws {@link BpfError}. */
  static load(rt: BpfRuntime, bytes: Uint8Array, options: LoadOptions): BpfObject {
    const opened = BpfObject.open(rt, bytes, options);
    try {
      opened.#load();
      return opened;
    } catch (err) {
      opened.close();
      throw err;
    }
  }

  /**
   * Opens `bytes` and applies `options`, without loading: the caller may share maps first
   * ({@link BpfObject.mapSpec}, {@link BpfObject.reuseMap}), then loads with
   * {@link BpfObject.loadOpened} or {@link BpfObject.loadInBackground}. Throws {@link BpfError}.
   */
  static open(rt: BpfRuntime, bytes: Uint8Array, options: LoadOptions): BpfObject {
    const { libbpf, libc } = rt;
    rt.takeMessages();
    // libbpf keeps a pointer to the buffer until close; copy so the caller's bytes stay theirs.
    const image = new Uint8Array(bytes);
    const obj = libbpf.bpf_object__open_mem(image, BigInt(image.length), null);
    if (obj === null) {
      throw new BpfError({
        op: "open",
        object: options.name,
        errno: readErrno(libc),
        logTail: logTail(rt.takeMessages().join("\n")),
      });
    }
    const opened = new BpfObject(rt, options.name, obj, image);
    try {
      opened.#configure(options);
      return opened;
    } catch (err) {
      opened.close();
      throw err;
    }
  }

  /** Loads an object from {@link BpfObject.open} on this thread. Throws {@link BpfError}. */
  loadOpened(): void {
    this.#load();
  }

  /**
   * Loads an object from {@link BpfObject.open} on a thread of Deno's blocking pool, so that the
   * kernel verifies it while this thread goes on. libbpf's print callback must be off meanwhile
   * ({@link BpfRuntime.quiet}): libbpf would call it from that thread. Without its messages a
   * failure names only the errno; load again on this thread to learn more.
   */
  async loadInBackground(): Promise<void> {
    const { libbpf } = this.#rt;
    const rc = await libbpf.bpf_object__load_background(this.#ptr());
    this.#image = null;
    if (rc !== 0) throw new BpfError({ op: "load", object: this.name, errno: -rc });
  }

  /** The definition of map `name` as opened (before load): what a map shared with it needs. */
  mapSpec<N extends string>(name: N): MapSpec & { readonly name: N } {
    const map = this.#map(name);
    const { libbpf } = this.#rt;
    return {
      name,
      type: libbpf.bpf_map__type(map),
      keySize: libbpf.bpf_map__key_size(map),
      valueSize: libbpf.bpf_map__value_size(map),
      maxEntries: libbpf.bpf_map__max_entries(map),
      flags: libbpf.bpf_map__map_flags(map),
      btfKeyTypeId: libbpf.bpf_map__btf_key_type_id(map),
      btfValueTypeId: libbpf.bpf_map__btf_value_type_id(map),
    };
  }

  /**
   * A copy of the object's BTF as libbpf holds it after open (null when it has none), for maps
   * created outside the object ({@link MapSpec}'s type ids index it).
   */
  btfImage(): Uint8Array | null {
    const { libbpf } = this.#rt;
    const btf = libbpf.bpf_object__btf(this.#ptr());
    if (btf === null) return null;
    const size = new Uint32Array(1);
    const raw = libbpf.btf__raw_data(btf, new Uint8Array(size.buffer));
    if (raw === null || size[0] === 0) return null;
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(raw, size[0]!).slice(0));
  }

  /** Before load: map `name` becomes the existing map `fd` (libbpf keeps its own dup). */
  reuseMap(name: string, fd: number): void {
    const rc = this.#rt.libbpf.bpf_map__reuse_fd(this.#map(name), fd);
    if (rc < 0) throw new BpfError({ op: `reuse map ${name} in`, object: this.name, errno: -rc });
  }

  #ptr(): Deno.PointerObject {
    if (this.#obj === null) throw new Error(`${this.name} is closed`);
    return this.#obj;
  }

  #program(name: string): Deno.PointerObject {
    const prog = this.#rt.libbpf.bpf_object__find_program_by_name(this.#ptr(), cString(name));
    if (prog === null) {
      throw new BpfError({ op: "find program", object: this.name, program: name, errno: 2 });
    }
    return prog;
  }

  #map(name: string): Deno.PointerObject {
    const map = this.#rt.libbpf.bpf_object__find_map_by_name(this.#ptr(), cString(name));
    if (map === null) {
      throw new BpfError({ op: `find map ${name} in`, object: this.name, errno: 2 });
    }
    return map;
  }

  /** Every map of the object with its fd (-1 before load), e.g. for {@link mapMemory}. */
  maps(): { name: string; fd: number }[] {
    const { libbpf } = this.#rt;
    const out: { name: string; fd: number }[] = [];
    let map = libbpf.bpf_object__next_map(this.#ptr(), null);
    while (map !== null) {
      out.push({ name: readCString(libbpf.bpf_map__name(map)), fd: libbpf.bpf_map__fd(map) });
      map = libbpf.bpf_object__next_map(this.#ptr(), map);
    }
    return out;
  }

  #configure(options: LoadOptions): void {
    const { libbpf } = this.#rt;
    if (options.rodata) {
      const map = this.#map(".rodata");
      const sizeOut = new BigUint64Array(1);
      const data = libbpf.bpf_map__initial_value(map, new Uint8Array(sizeOut.buffer));
      if (data === null) {
        throw new BpfError({ op: "read .rodata of", object: this.name, errno: 22 });
      }
      const buffer = Deno.UnsafePointerView.getArrayBuffer(data, Number(sizeOut[0]));
      options.rodata(new DataView(buffer));
    }
    for (const [name, entries] of Object.entries(options.maxEntries ?? {})) {
      const rc = libbpf.bpf_map__set_max_entries(this.#map(name), entries);
      if (rc < 0) throw new BpfError({ op: `size map ${name} of`, object: this.name, errno: -rc });
    }
    for (const [name, fd] of Object.entries(options.reuseMaps ?? {})) this.reuseMap(name, fd);
    for (const [name, enabled] of Object.entries(options.autoload ?? {})) {
      libbpf.bpf_program__set_autoload(this.#program(name), enabled);
    }
    for (const [name, target] of Object.entries(options.attachTargets ?? {})) {
      const rc = libbpf.bpf_program__set_attach_target(this.#program(name), 0, cString(target));
      if (rc < 0) {
        throw new BpfError({ op: `bind ${name} to ${target} in`, object: this.name, errno: -rc });
      }
    }
  }

  #load(): void {
    const { libbpf } = this.#rt;
    // One buffer for all programs: libbpf loads them in turn and stops at the first that fails,
    // whose name its message gives (a buffer per program cost 1 MiB each, per load).
    const buffer = new Uint8Array(LOG_BUFFER_BYTES);
    const logs = new Map<string, Uint8Array<ArrayBuffer>>();
    for (const prog of this.#programs()) {
      logs.set(readCString(libbpf.bpf_program__name(prog)), buffer);
      libbpf.bpf_program__set_log_buf(prog, buffer, BigInt(buffer.length));
    }
    const rc = libbpf.bpf_object__load(this.#ptr());
    // libbpf is done with the ELF image once load returns (it frees its ELF state either way).
    this.#image = null;
    const messages = this.#rt.takeMessages();
    // Unhook the buffers: they are garbage after this function.
    for (const prog of this.#programs()) libbpf.bpf_program__set_log_buf(prog, null, 0n);
    if (rc === 0) return;
    const failed = findFailedProgram(messages, logs);
    const verifier = failed ? decodeLog(logs.get(failed)) : "";
    throw new BpfError({
      op: "load",
      object: this.name,
      ...(failed ? { program: failed } : {}),
      errno: -rc,
      logTail: logTail(verifier || messages.join("\n")),
    });
  }

  *#programs(): Generator<Deno.PointerObject> {
    let prog = this.#rt.libbpf.bpf_object__next_program(this.#ptr(), null);
    while (prog !== null) {
      yield prog;
      prog = this.#rt.libbpf.bpf_object__next_program(this.#ptr(), prog);
    }
  }

  /** Names of the programs in the object. */
  programNames(): string[] {
    return [...this.#programs()].map((p) => readCString(this.#rt.libbpf.bpf_program__name(p)));
  }

  /** The fd of a loaded program (valid until close). */
  programFd(name: string): number {
    return this.#rt.libbpf.bpf_program__fd(this.#program(name));
  }

  /** A handle on one of the object's maps (valid until close). */
  map(name: string): MapHandle {
    const map = this.#map(name);
    const { libbpf } = this.#rt;
    return new MapHandle(this.#rt, {
      name,
      fd: libbpf.bpf_map__fd(map),
      maxEntries: libbpf.bpf_map__max_entries(map),
      valueSize: libbpf.bpf_map__value_size(map),
    });
  }

  /** Attaches a program where its section says (tp_btf, tracepoint, iter needs attachIter). */
  attach(programName: string): BpfLink {
    const { libbpf, libc } = this.#rt;
    this.#rt.takeMessages();
    const link = libbpf.bpf_program__attach(this.#program(programName));
    return this.#adopt(link, programName, readErrno(libc));
  }

  /**
   * Attaches a program to the classic tracepoint `category/name`, once more for each call; the
   * program reads `cookie` with bpf_get_attach_cookie (5.15+) to know which attachment fired.
   */
  attachTracepoint(programName: string, category: string, name: string, cookie: bigint): BpfLink {
    const { libbpf, libc } = this.#rt;
    this.#rt.takeMessages();
    const opts = new BigUint64Array([16n, cookie]);
    const link = libbpf.bpf_program__attach_tracepoint_opts(
      this.#program(programName),
      cString(category),
      cString(name),
      new Uint8Array(opts.buffer),
    );
    return this.#adopt(link, `${programName}@${category}/${name}`, readErrno(libc));
  }

  /**
   * Attaches a kprobe (or kretprobe) program to the kernel function `fn`; the program reads
   * `cookie` with bpf_get_attach_cookie (5.15+) to know which attachment fired.
   */
  attachKprobe(programName: string, fn: string, retprobe: boolean, cookie = 0n): BpfLink {
    const { libbpf, libc } = this.#rt;
    this.#rt.takeMessages();
    const opts = new BigUint64Array([32n, cookie, 0n, retprobe ? 1n : 0n]);
    const link = libbpf.bpf_program__attach_kprobe_opts(
      this.#program(programName),
      cString(fn),
      new Uint8Array(opts.buffer),
    );
    return this.#adopt(link, `${programName}@${fn}`, readErrno(libc));
  }

  /**
   * Attaches a kprobe_multi program to the kernel functions `symbols`, named exactly: the kernel
   * resolves them (a wildcard pattern would make libbpf 1.1 parse all of /proc/kallsyms first,
   * 0.1-0.25 s here).
   */
  attachKprobeMulti(
    programName: string,
    symbols: readonly string[],
    cookies?: readonly bigint[],
  ): BpfLink {
    const { libbpf, libc } = this.#rt;
    this.#rt.takeMessages();
    const names = symbols.map((s) => cString(s));
    const syms = new BigUint64Array(
      names.map((n) => BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(n)))),
    );
    if (cookies !== undefined && cookies.length !== symbols.length) {
      throw new Error(`${cookies.length} cookies for ${symbols.length} kprobe_multi functions`);
    }
    // Kept referenced until the call returns: the kernel copies syms and cookies at attach.
    const cookieArray = cookies === undefined ? null : new BigUint64Array(cookies);
    const opts = new BigUint64Array([
      48n,
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(syms))),
      0n,
      cookieArray === null
        ? 0n
        : BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(cookieArray))),
      BigInt(symbols.length),
      0n,
    ]);
    const link = libbpf.bpf_program__attach_kprobe_multi_opts(
      this.#program(programName),
      null,
      new Uint8Array(opts.buffer),
    );
    return this.#adopt(link, `${programName}@${symbols.join(",")}`, readErrno(libc));
  }

  /** Attaches an iterator program; read it with {@link BpfLink.readIterator}. */
  attachIter(programName: string): BpfLink {
    const { libbpf, libc } = this.#rt;
    this.#rt.takeMessages();
    const link = libbpf.bpf_program__attach_iter(this.#program(programName), null);
    return this.#adopt(link, programName, readErrno(libc));
  }

  #adopt(link: Deno.PointerValue, program: string, errno: number): BpfLink {
    if (link === null) {
      throw new BpfError({
        op: "attach",
        object: this.name,
        program,
        errno,
        logTail: logTail(this.#rt.takeMessages().join("\n")),
      });
    }
    const owned = new BpfLink(this.#rt, link, program, () => this.#links.delete(owned));
    this.#links.add(owned);
    return owned;
  }

  /** Detaches every link, then frees programs and maps. Idempotent. */
  close(): void {
    for (const link of [...this.#links]) link.close();
    if (this.#obj !== null) {
      this.#rt.libbpf.bpf_object__close(this.#obj);
      this.#obj = null;
    }
    this.#image = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function decodeLog(buffer: Uint8Array | undefined): string {
  if (!buffer) return "";
  const end = buffer.indexOf(0);
  return new TextDecoder().decode(buffer.subarray(0, end < 0 ? buffer.length : end));
}

/** libbpf names the failing program in its warning: "prog 'NAME': failed to load: -13". */
function findFailedProgram(messages: string[], logs: Map<string, Uint8Array>): string | undefined {
  for (const message of messages) {
    const match = /prog '([^']+)': failed to load/.exec(message);
    if (match?.[1]) return match[1];
  }
  for (const [name, buffer] of logs) if (buffer[0] !== 0) return name;
  return undefined;
}
