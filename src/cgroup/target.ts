/**
 * The hierarchy BPF reads cgroup ids from, and how userspace and BPF agree on it: on v2 the
 * unified tree (`bpf_get_current_cgroup_id()`); on v1 and hybrid hosts one v1 controller whose
 * subsystem index BPF uses in `task->cgroups->subsys[ssid]->cgroup->kn->id`.
 *
 * @module
 */
import type { MountInfo } from "./mountinfo.ts";
import { type CgroupMode, mountControllers } from "./mode.ts";
import { type Subsystem, v1Controllers } from "./proc_cgroups.ts";

/** Controllers tried first, in order: present on nearly every v1 host and cheap to walk. */
export const PREFERRED_CONTROLLERS: readonly string[] = ["memory", "pids", "cpuset"];

/** The hierarchy to read ids from. */
export type HierarchyTarget =
  | { kind: "unified" }
  | {
    kind: "controller";
    /** The v1 controller, e.g. `memory`. */
    controller: string;
    /** All controllers of its hierarchy (co-mounts such as `cpu,cpuacct`), for mounting it. */
    hierarchyControllers: string[];
    /** v1 hierarchy id from `/proc/cgroups`, or null when it was not read. */
    hierarchyId: number | null;
    /** Line position in `/proc/cgroups` (the kernel's ssid unless lines were hidden), or null. */
    lineIndex: number | null;
  };

/**
 * What the BPF side needs: `{version: 2}`, or `{version: 1, controller, subsysIndex}` where
 * `subsysIndex` is the `enum cgroup_subsys_id` value of the controller.
 */
export type BpfCgroupSelector =
  | { version: 2 }
  | { version: 1; controller: string; subsysIndex: number; hierarchyId: number | null };

/**
 * Chooses the target for a mode: v2 → unified; v1/hybrid → memory, then pids, then cpuset, then
 * the first other bound controller in kernel order. Bound controllers come from `/proc/cgroups`
 * (the kernel's view, independent of what is mounted where); without it, from the v1 mounts.
 * Returns null when a v1/hybrid host shows no usable controller.
 *
 * @example
 * ```ts
 * chooseTarget("v2", { mounts: [] }); // { kind: "unified" }
 * ```
 */
export function chooseTarget(
  mode: CgroupMode,
  input: { mounts: readonly MountInfo[]; subsystems?: readonly Subsystem[] },
): HierarchyTarget | null {
  if (mode === "v2") return { kind: "unified" };
  if (input.subsystems) {
    const bound = v1Controllers(input.subsystems);
    const pick = PREFERRED_CONTROLLERS.map((name) => bound.find((s) => s.name === name))
      .find((s) => s !== undefined) ?? bound[0];
    if (!pick) return null;
    return {
      kind: "controller",
      controller: pick.name,
      hierarchyControllers: bound.filter((s) => s.hierarchyId === pick.hierarchyId).map((s) =>
        s.name
      ),
      hierarchyId: pick.hierarchyId,
      lineIndex: pick.index,
    };
  }
  const mounted = new Set(input.mounts.flatMap((m) => mountControllers(m)));
  const name = PREFERRED_CONTROLLERS.find((c) => mounted.has(c)) ?? [...mounted].sort()[0];
  if (!name) return null;
  const withIt = input.mounts.find((m) => mountControllers(m).includes(name));
  return {
    kind: "controller",
    controller: name,
    hierarchyControllers: withIt ? mountControllers(withIt) : [name],
    hierarchyId: null,
    lineIndex: null,
  };
}

/** The kernel's `enum cgroup_subsys_id` spells blkio as `io`; every other v1 name matches. */
export function btfSubsysName(controller: string): string {
  return controller === "blkio" ? "io" : controller;
}

/** A short human description, e.g. `v1 memory hierarchy` or `unified (cgroup2) hierarchy`. */
export function describeTarget(target: HierarchyTarget): string {
  return target.kind === "unified"
    ? "unified (cgroup2) hierarchy"
    : `v1 ${target.controller} hierarchy`;
}
