/**
 * Which cgroup version a host runs, decided from the cgroup filesystems themselves (mount types
 * and the kernel's controller bindings), never from the presence of a path like
 * `/sys/fs/cgroup/cgroup.controllers`.
 *
 * @module
 */
import type { MountInfo } from "./mountinfo.ts";
import { type Subsystem, v1Controllers } from "./proc_cgroups.ts";
import type { TaskCgroup } from "./task_cgroup.ts";

/**
 * `v2`: every controller is on the unified hierarchy. `v1`: controllers are on v1 hierarchies
 * and no cgroup2 is mounted. `hybrid`: v1 controllers plus a (usually controller-less) cgroup2
 * tree such as `/sys/fs/cgroup/unified`.
 */
export type CgroupMode = "v2" | "v1" | "hybrid";

/** The mode and the evidence it was decided on, for the decision log. */
export interface ModeDecision {
  /** The decided mode. */
  mode: CgroupMode;
  /** One sentence an operator can check by hand. */
  evidence: string;
}

/** v1 controller names known to the kernel, in `enum cgroup_subsys_id` order (v1 spelling). */
export const KNOWN_CONTROLLERS: readonly string[] = [
  "cpuset",
  "cpu",
  "cpuacct",
  "blkio",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "perf_event",
  "net_prio",
  "hugetlb",
  "pids",
  "rdma",
  "misc",
  "debug",
];

/** Whether a mount is a cgroup filesystem of either version. */
export function isCgroupMount(mount: MountInfo): boolean {
  return mount.fsType === "cgroup" || mount.fsType === "cgroup2";
}

/**
 * The controllers a v1 cgroup mount carries, read from its super options (`rw,cpu,cpuacct` gives
 * `["cpu", "cpuacct"]`). Named hierarchies (`name=systemd`) carry none. When `/proc/cgroups` was
 * read, its names are authoritative; otherwise the kernel's known list is used.
 *
 * @example
 * ```ts
 * // superOptions ["rw", "xattr", "name=systemd"] -> []
 * ```
 */
export function mountControllers(mount: MountInfo, subsystems?: readonly Subsystem[]): string[] {
  if (mount.fsType !== "cgroup") return [];
  const known = subsystems ? subsystems.map((s) => s.name) : KNOWN_CONTROLLERS;
  return mount.superOptions.filter((o) => known.includes(o));
}

/**
 * Decides the mode: v1 controllers are "in use" when `/proc/cgroups` binds an enabled
 * controller to a non-zero hierarchy, or a visible `cgroup` mount carries one; cgroup2 is "in
 * use" when a `cgroup2` mount is visible or the task's `0::` line names a cgroup below the root.
 * A bare `0::/` proves nothing: kernels print that line on v1-only hosts too, and
 * a task can only sit below the unified root if someone mounted cgroup2 and made that cgroup.
 *
 * @example
 * ```ts
 * detectCgroupMode({ mounts: [], subsystems: [] }).mode; // "v2"
 * ```
 */
export function detectCgroupMode(input: {
  mounts: readonly MountInfo[];
  subsystems?: readonly Subsystem[];
  taskCgroups?: readonly TaskCgroup[];
}): ModeDecision {
  const bound = input.subsystems ? v1Controllers(input.subsystems).map((s) => s.name) : [];
  const mountedV1 = input.mounts.filter((m) => mountControllers(m, input.subsystems).length > 0);
  const cgroup2 = input.mounts.filter((m) => m.fsType === "cgroup2");
  const unifiedLine = input.taskCgroups?.find((l) => l.hierarchyId === 0 && l.path !== "/");

  const v1Evidence = bound.length > 0
    ? `/proc/cgroups binds ${bound.join(",")} to v1 hierarchies`
    : mountedV1.length > 0
    ? `cgroup (v1) mounts carry controllers (${
      [...new Set(mountedV1.map((m) => m.mountPoint))].join(", ")
    })`
    : null;
  const v2Evidence = cgroup2.length > 0
    ? `cgroup2 is mounted at ${[...new Set(cgroup2.map((m) => m.mountPoint))].join(", ")}`
    : unifiedLine
    ? `the task sits in unified cgroup '${unifiedLine.path}'`
    : null;

  if (v1Evidence && v2Evidence) return { mode: "hybrid", evidence: `${v1Evidence}; ${v2Evidence}` };
  if (v1Evidence) return { mode: "v1", evidence: `${v1Evidence}; no cgroup2 in use` };
  return {
    mode: "v2",
    evidence: `no controller is bound to a v1 hierarchy${v2Evidence ? `; ${v2Evidence}` : ""}`,
  };
}
