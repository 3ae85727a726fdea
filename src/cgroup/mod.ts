/**
 * Cgroup detection and container identity: which host cgroup hierarchy BPF reads ids from
 * (`openHostHierarchy`, or `decideHierarchy` on captured files), a walk of that hierarchy
 * (`scanHierarchy`), and container/pod identity from cgroup paths (`parseContainerPath`).
 *
 * @module
 */
export * from "./btf_subsys.ts";
export * from "./container.ts";
export * from "./hierarchy.ts";
export * from "./host_hierarchy.ts";
export * from "./input.ts";
export * from "./live_probe.ts";
export * from "./mode.ts";
export * from "./mountinfo.ts";
export * from "./pod_uid.ts";
export * from "./probe.ts";
export * from "./proc_cgroups.ts";
export * from "./scan.ts";
export * from "./target.ts";
export * from "./task_cgroup.ts";
export * from "./visibility.ts";
