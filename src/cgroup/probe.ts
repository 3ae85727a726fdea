/**
 * The oracle the hierarchy decision asks for facts it cannot read from captured files: `stat`
 * of a mountpoint, the agent's cgroup namespace, the host's view through `/proc/<pid>/root`,
 * and the kernel's controller numbering. The live implementation is in `live_probe.ts`; offline
 * every answer is "skipped", so the decision reports the check as skipped instead of guessing.
 *
 * @module
 */
import type { MountInfo } from "./mountinfo.ts";

/** The answer to one probe: a value, a failure with its reason, or skipped (offline). */
export type Probed<T> =
  | { status: "ok"; value: T }
  | { status: "error"; reason: string }
  | { status: "skipped"; reason: string };

/** The parts of `stat(2)` the decision needs. */
export interface DirStat {
  /** Inode number; for a cgroup directory, its kernfs id (1 for a hierarchy's root). */
  ino: bigint;
  /** Encoded device number, comparable with `encodeDevice(major, minor)`. */
  dev: bigint;
}

/** Where the agent stands relative to the host's cgroup namespace. */
export interface NamespaceFacts {
  /** `host`: mount roots and cgroup paths are absolute; `private`: they are relative. */
  kind: "host" | "private";
  /** How it was established, e.g. `cgroup:[4026531835] is the initial cgroup namespace`. */
  detail: string;
}

/** A host-namespace process whose root directory gives the host's view of the filesystem. */
export interface HostView {
  /** The process used, e.g. 1 (init) or 2 (kthreadd). */
  pid: number;
  /** Prefix that maps a host path into the agent's view: `/proc/<pid>/root`. */
  prefix: string;
  /** `/proc/<pid>/ns/cgroup`, for entering the host cgroup namespace. */
  cgroupNsPath: string;
  /** That process's mountinfo (roots rendered relative to the agent's cgroup namespace). */
  mounts: MountInfo[];
  /** Why it was chosen (and why other candidates were not). */
  detail: string;
}

/** Facts the hierarchy decision asks for; see the module doc. */
export interface HostProbe {
  /** True when answers come from the running system. */
  readonly live: boolean;
  /** `stat` of a directory. */
  statDir(path: string): Probed<DirStat>;
  /** The agent's cgroup namespace relative to the host's. */
  cgroupNamespace(): Probed<NamespaceFacts>;
  /** The host's filesystem view through a host-namespace process, when one is visible. */
  hostView(): Probed<HostView>;
  /** The kernel's `enum cgroup_subsys_id` (name without `_cgrp_id` → value), e.g. from BTF. */
  subsysIds(): Probed<ReadonlyMap<string, number>>;
}

/** Proc inode of the initial cgroup namespace (`PROC_CGROUP_INIT_INO`, include/linux/proc_ns.h). */
export const INITIAL_CGROUP_NS_INO = 0xEFFFFFFBn;

/** Proc inode of the initial PID namespace (`PROC_PID_INIT_INO`, include/linux/proc_ns.h). */
export const INITIAL_PID_NS_INO = 0xEFFFFFFCn;

const OFFLINE = "skipped (offline)";

/**
 * A probe for captured files: every live check is reported as `skipped (offline)`.
 *
 * @example
 * ```ts
 * offlineProbe().statDir("/sys/fs/cgroup").status; // "skipped"
 * ```
 */
export function offlineProbe(): HostProbe {
  const skipped = { status: "skipped", reason: OFFLINE } as const;
  return {
    live: false,
    statDir: () => skipped,
    cgroupNamespace: () => skipped,
    hostView: () => skipped,
    subsysIds: () => skipped,
  };
}
