/**
 * Resolution of syscall names, as written in `lists` values, `call:` and `enforcers`, to x86_64
 * syscall numbers and kernel entry points.
 *
 * Accepted spellings: `openat`, `sys_openat`, `__x64_sys_openat`, and `x64/` followed by any of
 * those. Other ABIs (`i386/sys_dup`, `__ia32_sys_dup`, arm) are refused for now.
 *
 * @module
 */

import { X86_64_SYSCALLS } from "./syscalls_x86_64.ts";

/**
 * Syscalls whose kernel entry point is not `sys_<name>` on x86_64 (from the kernel's
 * `syscall_64.tbl`): name → entry suffix.
 */
const ENTRY_POINTS: Readonly<Record<string, string>> = {
  stat: "newstat",
  fstat: "newfstat",
  lstat: "newlstat",
  uname: "newuname",
  umount2: "umount",
  sendfile: "sendfile64",
};

/** An x86_64 syscall. */
export interface SyscallRef {
  /** Bare name, without `sys_` or `__x64_sys_` (e.g. `openat`). */
  readonly name: string;
  /** x86_64 syscall number (e.g. 257). */
  readonly nr: number;
  /**
   * Kernel entry point suffix: the function is `__x64_sys_<entry>` and the tracepoints are
   * `syscalls/sys_{enter,exit}_<entry>`. Usually `name`; differs for a few (`stat` → `newstat`).
   */
  readonly entry: string;
}

const BY_NAME = new Map<string, SyscallRef>();
const BY_NR = new Map<number, SyscallRef>();
for (const [name, nr] of X86_64_SYSCALLS) {
  const ref: SyscallRef = { name, nr, entry: ENTRY_POINTS[name] ?? name };
  BY_NAME.set(name, ref);
  BY_NR.set(nr, ref);
}
const BY_ENTRY = new Map<string, SyscallRef>(
  Object.entries(ENTRY_POINTS).flatMap(([name, entry]) => {
    const ref = BY_NAME.get(name);
    return ref === undefined ? [] : [[entry, ref] as const];
  }),
);

/**
 * Whether a syscall as written names the 32-bit (i386/ia32 compat) ABI: `i386/sys_dup`,
 * `__ia32_sys_dup`, `__ia32_compat_sys_open`. Tetragon accepts these; vigil cannot plan them yet.
 *
 * @example
 * ```ts
 * is32BitSyscall("i386/sys_dup"); // true
 * is32BitSyscall("sys_dup"); // false
 * ```
 */
export function is32BitSyscall(written: string): boolean {
  const name = written.trim();
  return name.startsWith("i386/") || name.startsWith("__ia32_");
}

/**
 * Why a 32-bit syscall cannot run in vigil (the policy stays valid): the precise reason.
 *
 * @example
 * ```ts
 * syscall32NotRunnable("i386/sys_dup"); // "'i386/sys_dup' is a 32-bit (ia32) syscall: ..."
 * ```
 */
export function syscall32NotRunnable(written: string): string {
  return `'${written}' is a 32-bit (ia32) syscall, valid in Tetragon; vigil plans syscalls on ` +
    `their x86_64 entry points (__x64_sys_*, syscalls/sys_enter_* tracepoints) with x86_64 ` +
    `numbers, while 32-bit tasks enter through __ia32_sys_*/__ia32_compat_sys_* with i386 ` +
    `numbers, which vigil has no table for yet: not runnable`;
}

/** The result of resolving one syscall name. */
export type SyscallResolution =
  | { readonly syscall: SyscallRef; readonly error?: undefined }
  | { readonly syscall?: undefined; readonly error: string };

/**
 * Resolves a syscall as written to its x86_64 number.
 *
 * @example
 * ```ts
 * resolveSyscall("sys_openat").syscall; // { name: "openat", nr: 257, entry: "openat" }
 * resolveSyscall("__x64_sys_newstat").syscall?.nr; // 4
 * resolveSyscall("i386/sys_dup").error; // "... 32-bit (i386) syscalls are not supported yet ..."
 * ```
 */
export function resolveSyscall(written: string): SyscallResolution {
  let name = written.trim();
  const slash = name.indexOf("/");
  if (slash >= 0) {
    const abi = name.slice(0, slash);
    if (abi !== "x64") {
      return {
        error: abi === "i386"
          ? `'${written}': 32-bit (i386) syscalls are not supported yet; only x86_64 syscalls ` +
            `can be listed`
          : `'${written}': syscall ABI '${abi}' is not supported; only x86_64 syscalls can be listed`,
      };
    }
    name = name.slice(slash + 1);
  }
  if (name.startsWith("__ia32_") || name.startsWith("__x32_") || name.startsWith("__arm64_")) {
    return {
      error: `'${written}': only x86_64 syscalls are supported (32-bit and other ABIs are not, ` +
        `yet)`,
    };
  }
  if (name.startsWith("__x64_sys_")) name = name.slice("__x64_sys_".length);
  else if (name.startsWith("sys_")) name = name.slice("sys_".length);
  const ref = BY_NAME.get(name) ?? BY_ENTRY.get(name);
  if (ref === undefined) return { error: `'${written}' is not an x86_64 syscall` };
  return { syscall: ref };
}

/**
 * The x86_64 syscall with number `nr`, if the table has it.
 *
 * @example
 * ```ts
 * syscallByNumber(59)?.name; // "execve"
 * ```
 */
export function syscallByNumber(nr: number): SyscallRef | undefined {
  return BY_NR.get(nr);
}

/**
 * The x86_64 syscall whose kernel entry is `entry` (`newstat` → stat, `openat` → openat).
 *
 * @example
 * ```ts
 * syscallByEntry("sendfile64")?.name; // "sendfile"
 * ```
 */
export function syscallByEntry(entry: string): SyscallRef | undefined {
  const byEntry = BY_ENTRY.get(entry);
  if (byEntry !== undefined) return byEntry;
  const byName = BY_NAME.get(entry);
  return byName?.entry === entry ? byName : undefined;
}

/**
 * Every x86_64 syscall of the table, by number (what a `generated_syscalls` list expands to).
 *
 * @example
 * ```ts
 * allSyscalls()[0]; // { name: "read", nr: 0, entry: "read" }
 * ```
 */
export function allSyscalls(): readonly SyscallRef[] {
  return [...BY_NR.values()];
}
