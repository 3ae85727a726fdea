/**
 * Temporary pseudo-filesystem mounts for probing. tracefs (classic tracepoint ids, kprobe_events)
 * and securityfs (the active LSM list) are often not mounted on minimal hosts; the probe mounts
 * what it needs, and unmounts exactly what it mounted, so the mount table ends as it began.
 *
 * @module
 */
import { type MountInfo, parseMountinfo } from "../cgroup/mod.ts";
import { cString } from "../ffi/libbpf.ts";
import { errnoName, type Libc, readErrno } from "../ffi/libc.ts";
import type { ProbeMount } from "./types.ts";

/** A pseudo filesystem the probe may mount. */
export interface PseudoFs {
  readonly fsType: ProbeMount["fsType"];
  readonly target: string;
}

/** tracefs where libbpf looks for it first when debugfs is not mounted. */
export const TRACEFS: PseudoFs = { fsType: "tracefs", target: "/sys/kernel/tracing" };
/** securityfs, home of the active LSM list and the lockdown mode. */
export const SECURITYFS: PseudoFs = { fsType: "securityfs", target: "/sys/kernel/security" };

// Flags for a pseudo filesystem: nothing to execute, no devices, no setuid.
const MS_NOSUID = 2n;
const MS_NODEV = 4n;
const MS_NOEXEC = 8n;
const MNT_DETACH = 2;
const EBUSY = 16;

/** Whether `fs` is mounted at its target right now (per this process's mountinfo). */
export function isMounted(fs: PseudoFs, mounts?: readonly MountInfo[]): boolean {
  const current = mounts ?? parseMountinfo(Deno.readTextFileSync("/proc/self/mountinfo"));
  return current.some((m) => m.mountPoint === fs.target && m.fsType === fs.fsType);
}

/**
 * Runs `fn` with `fs` mounted: when it is not mounted already, mounts it first and unmounts it
 * afterwards (lazily, if something still holds it open). `fn` learns what happened; on a failed
 * mount it still runs, so it can report why its facts are missing.
 *
 * @example
 * ```ts
 * const lsm = withPseudoFs(libc, SECURITYFS, () => Deno.readTextFileSync("/sys/kernel/security/lsm"));
 * ```
 */
export function withPseudoFs<T>(libc: Libc, fs: PseudoFs, fn: (mount: ProbeMount) => T): T {
  if (isMounted(fs)) return fn({ ...fs, state: "already" });
  const rc = libc.mount(
    cString(fs.fsType),
    cString(fs.target),
    cString(fs.fsType),
    MS_NOSUID | MS_NODEV | MS_NOEXEC,
    null,
  );
  if (rc !== 0) {
    const error = `mount -t ${fs.fsType} on ${fs.target} failed: ${errnoName(readErrno(libc))}`;
    return fn({ ...fs, state: "failed", error });
  }
  try {
    return fn({ ...fs, state: "mounted" });
  } finally {
    unmount(libc, fs.target);
  }
}

function unmount(libc: Libc, target: string): void {
  const path = cString(target);
  if (libc.umount2(path, 0) === 0) return;
  // Busy (an fd left open somewhere): detach now, the kernel frees it when the fd closes.
  if (readErrno(libc) === EBUSY) libc.umount2(path, MNT_DETACH);
}
