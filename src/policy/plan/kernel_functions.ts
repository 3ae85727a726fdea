/**
 * What the running kernel has, for the lists Tetragon generates at load: the syscalls of
 * `generated_syscalls` (the kernel's BTF `__x64_sys_*`/`__ia32_sys_*` functions, else the tracefs
 * `syscalls/sys_enter_*` events) and the functions of `generated_ftrace` (a pattern over
 * `available_filter_functions`). Every read is bounded; the sources are injectable.
 *
 * @module
 */

import { concatBytes } from "../../bytes.ts";
import { BTF_MAGIC, btfTrailingBytes } from "../../kernel/btf_kinds.ts";
import { syscallByEntry } from "../vocab/mod.ts";

/** The kernel's syscalls, by entry name (`openat`, `newstat`, `sendfile64`). */
export type KernelSyscalls =
  | {
    /** x86_64 entry names (`__x64_sys_<entry>` functions or `sys_enter_<entry>` events). */
    readonly x64: ReadonlySet<string>;
    /** ia32 entry names (`__ia32_sys_<entry>`), empty when read from tracefs. */
    readonly ia32: ReadonlySet<string>;
    /** Where they were read, for messages (`/sys/kernel/btf/vmlinux`). */
    readonly source: string;
    readonly error?: undefined;
  }
  | { readonly error: string };

/** Functions of `available_filter_functions` matching a pattern, or why they cannot be listed. */
export type FtraceLookup = (
  pattern: RegExp,
) => { readonly functions: readonly string[]; readonly error?: undefined } | {
  readonly error: string;
};

/** Limits of the reads (a vmlinux BTF is 4-8 MiB, available_filter_functions 1-4 MiB). */
export const KERNEL_LIST_LIMITS = {
  btfBytes: 64 * 1024 * 1024,
  filterFunctionsBytes: 32 * 1024 * 1024,
  ftraceMatches: 4096,
} as const;

const BTF_KIND_FUNC = 12;

/**
 * Names of the `FUNC` entries of a raw BTF blob (`/sys/kernel/btf/vmlinux`), filtered by
 * `keep`. Throws on a malformed blob.
 *
 * @example
 * ```ts
 * btfFunctionNames(Deno.readFileSync("/sys/kernel/btf/vmlinux"), (n) => n.startsWith("__x64_sys_"));
 * ```
 */
export function btfFunctionNames(blob: Uint8Array, keep: (name: string) => boolean): string[] {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.byteLength < 24 || view.getUint16(0, true) !== BTF_MAGIC) {
    throw new Error("not a little-endian BTF blob (bad magic)");
  }
  const hdrLen = view.getUint32(4, true);
  const typeOff = hdrLen + view.getUint32(8, true);
  const typeEnd = typeOff + view.getUint32(12, true);
  const strOff = hdrLen + view.getUint32(16, true);
  const strEnd = strOff + view.getUint32(20, true);
  if (typeEnd > blob.byteLength || strEnd > blob.byteLength) {
    throw new Error("BTF sections run past the end of the blob");
  }
  const decoder = new TextDecoder();
  const nameAt = (off: number): string => {
    const start = strOff + off;
    if (start >= strEnd) return "";
    let end = start;
    while (end < strEnd && blob[end] !== 0) end++;
    return decoder.decode(blob.subarray(start, end));
  };
  const names: string[] = [];
  let pos = typeOff;
  while (pos + 12 <= typeEnd) {
    const nameOff = view.getUint32(pos, true);
    const info = view.getUint32(pos + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const extra = btfTrailingBytes(kind, info & 0xffff);
    if (extra === undefined) throw new Error(`unknown BTF kind ${kind} at offset ${pos}`);
    if (kind === BTF_KIND_FUNC && nameOff !== 0) {
      const name = nameAt(nameOff);
      if (keep(name)) names.push(name);
    }
    pos += 12 + extra;
  }
  return names;
}

/** Reads at most `limit` bytes of a file; errors name the file. */
function readBounded(path: string, limit: number): Uint8Array {
  using file = Deno.openSync(path, { read: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = file.readSync(buf);
    if (n === null || n === 0) break;
    total += n;
    if (total > limit) throw new Error(`${path} is larger than ${limit} bytes`);
    chunks.push(buf.slice(0, n));
  }
  return concatBytes(chunks);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The running kernel's syscalls: the tracefs `syscalls/sys_enter_*` events (exactly the x86_64
 * syscalls this kernel has), else its BTF `__x64_sys_*` functions kept to those `known` (BTF
 * also has stubs of other architectures' syscalls, and omits parameterless ones). `ia32` is read
 * from BTF when it can be.
 *
 * @example
 * ```ts
 * const s = readKernelSyscalls();
 * if (s.error === undefined) s.x64.has("openat"); // true
 * ```
 */
export function readKernelSyscalls(
  tracefs = "/sys/kernel/tracing",
  btfPath = "/sys/kernel/btf/vmlinux",
  known: (entry: string) => boolean = (entry) => syscallByEntry(entry) !== undefined,
): KernelSyscalls {
  const btfX64 = new Set<string>();
  const ia32 = new Set<string>();
  let btfError: string | undefined;
  try {
    const blob = readBounded(btfPath, KERNEL_LIST_LIMITS.btfBytes);
    const keep = (n: string) => n.startsWith("__x64_sys_") || n.startsWith("__ia32_sys_");
    for (const name of btfFunctionNames(blob, keep)) {
      if (name.startsWith("__x64_sys_")) btfX64.add(name.slice("__x64_sys_".length));
      else ia32.add(name.slice("__ia32_sys_".length));
    }
  } catch (err) {
    btfError = `${btfPath}: ${errorText(err)}`;
  }
  const dir = `${tracefs}/events/syscalls`;
  let tracefsError: string;
  try {
    const x64 = new Set<string>();
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isDirectory && entry.name.startsWith("sys_enter_")) {
        x64.add(entry.name.slice("sys_enter_".length));
      }
      if (x64.size > 4096) break;
    }
    if (x64.size > 0) return { x64, ia32, source: dir };
    tracefsError = `${dir} has no sys_enter_* events`;
  } catch (err) {
    tracefsError = `${dir}: ${errorText(err)}`;
  }
  const x64 = new Set([...btfX64].filter(known));
  if (x64.size > 0) return { x64, ia32, source: btfPath };
  return { error: `${tracefsError}; ${btfError ?? `${btfPath} has no __x64_sys_* functions`}` };
}

/**
 * A lookup of `available_filter_functions` (read once, bounded): the functions matching a
 * pattern, without the `[module]` suffix, de-duplicated, at most
 * {@link KERNEL_LIST_LIMITS.ftraceMatches}.
 *
 * @example
 * ```ts
 * const lookup = ftraceLookup();
 * lookup(/^security_file_/); // { functions: ["security_file_permission", ...] }
 * ```
 */
export function ftraceLookup(tracefs = "/sys/kernel/tracing"): FtraceLookup {
  const path = `${tracefs}/available_filter_functions`;
  let lines: string[] | { error: string } | undefined;
  const load = (): string[] | { error: string } => {
    try {
      const text = new TextDecoder().decode(
        readBounded(path, KERNEL_LIST_LIMITS.filterFunctionsBytes),
      );
      return text.split("\n").map((l) => l.split(" ")[0] ?? "").filter((l) => l !== "");
    } catch (err) {
      return { error: `cannot read ${path}: ${errorText(err)}` };
    }
  };
  return (pattern) => {
    lines ??= load();
    if (!Array.isArray(lines)) return lines;
    const seen = new Set<string>();
    for (const fn of lines) {
      if (seen.has(fn) || !pattern.test(fn)) continue;
      seen.add(fn);
      if (seen.size > KERNEL_LIST_LIMITS.ftraceMatches) {
        return {
          error:
            `pattern ${pattern.source} matches more than ${KERNEL_LIST_LIMITS.ftraceMatches} ` +
            `functions of ${path}`,
        };
      }
    }
    return { functions: [...seen] };
  };
}
