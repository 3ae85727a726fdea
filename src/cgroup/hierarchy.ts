/**
 * The decision of which mounted cgroup hierarchy the agent reads cgroup ids from, as a function
 * of parsed files and a {@link HostProbe}, so it runs the same live and on captured files.
 *
 * A mount is accepted only if every check holds; no single check is enough (each was tried on
 * its own by other agents and broke a platform):
 * - **type**: the filesystem carries the target hierarchy (cgroup2, or v1 with the controller);
 * - **root**: the mountinfo root is `/`, not a bind-mounted sub-tree such as a pod's own cgroup;
 * - **visible**: no later mount covers the mountpoint;
 * - **inode**: the mountpoint is the hierarchy's root directory (kernfs inode 1), which the root
 *   field cannot prove because it is rendered relative to the reader's cgroup namespace;
 * - **namespace**: the agent shares the host's cgroup namespace, or reached the mount through
 *   `/proc/<pid>/root` of a process in the host namespaces.
 *
 * Among several accepted mounts (all views of the same root) the lowest mount id wins, for a
 * stable choice; their order in mountinfo means nothing. When none qualifies, the decision
 * returns a plan to mount the hierarchy privately (see `host_hierarchy.ts`).
 *
 * @module
 */
import { encodeDevice, type MountInfo } from "./mountinfo.ts";
import { type CgroupMode, detectCgroupMode, isCgroupMount, mountControllers } from "./mode.ts";
import type { HostProbe, NamespaceFacts } from "./probe.ts";
import type { Subsystem } from "./proc_cgroups.ts";
import {
  type BpfCgroupSelector,
  btfSubsysName,
  chooseTarget,
  describeTarget,
  type HierarchyTarget,
} from "./target.ts";
import type { TaskCgroup } from "./task_cgroup.ts";
import { findCoveringMount } from "./visibility.ts";

/** The parsed inputs of the decision. */
export interface HierarchyInput {
  /** The agent's own `/proc/self/mountinfo`. */
  mounts: readonly MountInfo[];
  /** `/proc/cgroups`, when available. */
  subsystems?: readonly Subsystem[];
  /** The agent's `/proc/self/cgroup`, when available (mode and namespace evidence). */
  taskCgroups?: readonly TaskCgroup[];
}

/** Options of {@link decideHierarchy}. */
export interface DecideOptions {
  /**
   * Whether mounts seen through `/proc/<pid>/root` may be chosen (default true). When false the
   * host view only supplies the namespace to enter before a private mount.
   */
  useHostView?: boolean;
}

/** Name of one acceptance check. */
export type CheckName = "type" | "root" | "visible" | "inode" | "namespace";

/** Outcome of one check on one candidate. */
export interface CandidateCheck {
  /** Which check. */
  name: CheckName;
  /** `skipped` means it needs the live system and the input was captured files. */
  status: "pass" | "fail" | "skipped";
  /** What was found, phrased for an operator. */
  detail: string;
}

/** Where a candidate came from. */
export type CandidateOrigin = "agent" | "host-view" | "private-mount";

/** One cgroup mount considered, with the verdict and why. */
export interface Candidate {
  /** The path the agent would walk (prefixed with `/proc/<pid>/root` for the host view). */
  mountpoint: string;
  /** mountinfo root field (decoded). */
  root: string;
  /** `cgroup` or `cgroup2`. */
  fstype: string;
  /** True when every check passed (or, offline, passed or was skipped). */
  accepted: boolean;
  /** One line an operator understands. */
  reason: string;
  /** Whose mount table it came from. */
  origin: CandidateOrigin;
  /** mountinfo mount id, or null for a private mount. */
  mountId: number | null;
  /** Whether it carries the target hierarchy at all. */
  relevant: boolean;
  /** Every check that ran, in order. */
  checks: CandidateCheck[];
}

/** How to mount the host hierarchy privately when no existing mount qualifies. */
export interface PrivateMountPlan {
  /** Filesystem type to mount. */
  fstype: "cgroup" | "cgroup2";
  /** `-o` options: every controller of the v1 hierarchy (the kernel wants the exact set). */
  options: string[];
  /** Namespace file to enter first (e.g. `/proc/1/ns/cgroup`), or null when not needed/known. */
  enterCgroupNs: string | null;
  /** Why, for the log. */
  reason: string;
}

/** Namespace state as far as the decision could establish it. */
export interface NamespaceState {
  /** `unknown`: offline with no evidence, or the probe failed. */
  kind: "host" | "private" | "unknown";
  /** How it was established, or why it could not be. */
  detail: string;
  /** True when unknown only because the input was captured files. */
  skipped: boolean;
}

/** The full decision with its evidence. */
export interface HierarchyDecision {
  /** v2, v1 or hybrid. */
  mode: CgroupMode;
  /** The target hierarchy, or null when a v1 host shows no usable controller. */
  target: HierarchyTarget | null;
  /** What to pass to BPF, or null when the subsystem index is unknown. */
  selector: BpfCgroupSelector | null;
  /** The agent's cgroup namespace. */
  namespace: NamespaceState;
  /** Every cgroup mount considered, the agent's first, then the host view's. */
  candidates: Candidate[];
  /** The accepted candidate used, or null. */
  chosen: Candidate | null;
  /** Set when nothing was accepted and a private mount is the way forward. */
  privateMount: PrivateMountPlan | null;
  /** The decision as sentences, in order. */
  log: string[];
}

/**
 * Decides the hierarchy. Pure apart from the calls it makes on `probe`.
 *
 * @example
 * ```ts
 * const decision = decideHierarchy(
 *   { mounts: parseMountinfo(text), subsystems: parseProcCgroups(cgroupsText) },
 *   offlineProbe(),
 * );
 * decision.chosen?.mountpoint;
 * ```
 */
export function decideHierarchy(
  input: HierarchyInput,
  probe: HostProbe,
  options: DecideOptions = {},
): HierarchyDecision {
  const log: string[] = [];
  const { mode, evidence } = detectCgroupMode(input);
  log.push(`mode: ${mode} (${evidence})`);

  const target = chooseTarget(mode, input);
  const selector = target ? selectorFor(target, probe, log) : null;
  if (!target) log.push("target: none: no enabled controller is bound to a v1 hierarchy");

  const namespace = namespaceState(probe, input);
  log.push(`namespace: ${namespace.kind}: ${namespace.detail}`);

  const context = { target, mode, subsystems: input.subsystems, probe, namespace };
  const candidates = input.mounts.filter(isCgroupMount).map((m) =>
    evaluate(m, { ...context, table: input.mounts, origin: "agent", prefix: "" })
  );
  let chosen = pickAccepted(candidates, log, "agent's mount table");

  let hostView: HostViewOutcome = { status: "not consulted" };
  if (!chosen && target) {
    const view = probe.hostView();
    hostView = view.status === "ok" ? { status: "ok", nsPath: view.value.cgroupNsPath } : view;
    if (view.status === "ok" && options.useHostView === false) {
      log.push(
        `host view: ${view.value.prefix} not used (the caller prefers a private mount); ${view.value.cgroupNsPath} can be entered`,
      );
    } else if (view.status === "ok") {
      log.push(`host view: ${view.value.prefix} (${view.value.detail})`);
      const viewed = view.value.mounts.filter(isCgroupMount).map((m) =>
        evaluate(m, {
          ...context,
          table: view.value.mounts,
          origin: "host-view",
          prefix: view.value.prefix,
          pid: view.value.pid,
        })
      );
      // Only the host's mounts of the target are listed: the rest repeat the agent's table.
      candidates.push(...viewed.filter((c) => c.relevant));
      chosen = pickAccepted(viewed, log, `host view ${view.value.prefix}`);
    } else {
      log.push(
        `host view: ${view.status === "skipped" ? view.reason : `unavailable: ${view.reason}`}`,
      );
    }
  }

  const privateMount = !chosen && target ? planPrivateMount(target, namespace, hostView) : null;
  if (privateMount) log.push(`plan: ${privateMount.reason}`);
  else if (chosen) log.push(`decision: read ids from ${chosen.mountpoint} (${chosen.origin})`);
  return { mode, target, selector, namespace, candidates, chosen, privateMount, log };
}

interface EvalContext {
  target: HierarchyTarget | null;
  mode: CgroupMode;
  subsystems?: readonly Subsystem[];
  probe: HostProbe;
  namespace: NamespaceState;
  /** The mount table the mount came from (for the visibility check). */
  table: readonly MountInfo[];
  origin: CandidateOrigin;
  prefix: string;
  pid?: number;
}

function evaluate(mount: MountInfo, ctx: EvalContext): Candidate {
  const base = {
    mountpoint: ctx.prefix + mount.mountPoint,
    root: mount.root,
    fstype: mount.fsType,
    origin: ctx.origin,
    mountId: mount.mountId,
  };
  const type = typeCheck(mount, ctx);
  if (type.status !== "pass") {
    return {
      ...base,
      accepted: false,
      relevant: false,
      reason: `ignored: ${type.detail}`,
      checks: [type],
    };
  }
  const visible = visibleCheck(mount, ctx);
  const checks = [
    type,
    rootCheck(mount, ctx),
    visible,
    // stat() of a covered mountpoint would describe the covering mount, so it is not asked.
    ...(visible.status === "fail" ? [] : [inodeCheck(mount, ctx, base.mountpoint)]),
    namespaceCheck(ctx),
  ];
  return { ...base, ...verdict(checks), relevant: true, checks };
}

/** Summarises checks into `accepted` and a one-line reason. */
export function verdict(checks: readonly CandidateCheck[]): { accepted: boolean; reason: string } {
  const failed = checks.filter((c) => c.status === "fail");
  if (failed.length > 0) {
    return { accepted: false, reason: `rejected: ${failed.map((c) => c.detail).join("; ")}` };
  }
  const passed = checks.filter((c) => c.status === "pass").map((c) => c.detail).join(", ");
  const skipped = checks.filter((c) => c.status === "skipped").map((c) => c.name);
  return skipped.length === 0 ? { accepted: true, reason: `accepted: ${passed}` } : {
    accepted: true,
    reason: `accepted offline: ${passed}; ${skipped.join(" and ")} check${
      skipped.length > 1 ? "s" : ""
    } skipped (offline)`,
  };
}

function typeCheck(mount: MountInfo, ctx: EvalContext): CandidateCheck {
  const controllers = mountControllers(mount, ctx.subsystems);
  const label = mount.fsType === "cgroup2"
    ? "cgroup2 tree"
    : `v1 hierarchy ${controllers.join(",") || describeNamed(mount)}`;
  const target = ctx.target;
  if (!target) return { name: "type", status: "fail", detail: `${label}; no target hierarchy` };
  if (target.kind === "unified") {
    return mount.fsType === "cgroup2"
      ? { name: "type", status: "pass", detail: "cgroup2" }
      : { name: "type", status: "fail", detail: `${label}; ids come from the unified hierarchy` };
  }
  if (controllers.includes(target.controller)) {
    return { name: "type", status: "pass", detail: `v1 hierarchy ${controllers.join(",")}` };
  }
  const why = mount.fsType === "cgroup2"
    ? `on this ${ctx.mode} host ids come from the v1 ${target.controller} hierarchy, where runtimes place containers`
    : `ids come from the v1 ${target.controller} hierarchy`;
  return { name: "type", status: "fail", detail: `${label}; ${why}` };
}

function describeNamed(mount: MountInfo): string {
  return mount.superOptions.find((o) => o.startsWith("name=")) ?? "(no controllers)";
}

/** `/..`, `/../..`: a cgroup above the reader's namespace root, as mountinfo renders it. */
const ABOVE_NAMESPACE_ROOT = /^\/\.\.(\/\.\.)*$/;

function rootCheck(mount: MountInfo, ctx: EvalContext): CandidateCheck {
  const root = mount.root;
  if (ctx.origin === "host-view") {
    // The kernel renders cgroupfs roots relative to the *reader's* namespace, so from a private
    // namespace the host's hierarchy root shows as '/..' segments; the inode check proves it.
    return root === "/" || ABOVE_NAMESPACE_ROOT.test(root)
      ? { name: "root", status: "pass", detail: `root '${root}'` }
      : { name: "root", status: "fail", detail: subTree(root) };
  }
  if (root === "/") return { name: "root", status: "pass", detail: "root '/'" };
  if (root.startsWith("/..")) {
    return {
      name: "root",
      status: "fail",
      detail:
        `root '${root}' is outside the agent's cgroup namespace (mount roots are namespace-relative)`,
    };
  }
  return { name: "root", status: "fail", detail: subTree(root) };
}

function subTree(root: string): string {
  return `root '${root}' is a sub-tree (a bind mount of one cgroup, such as a pod's or container's own), not the hierarchy root`;
}

function visibleCheck(mount: MountInfo, ctx: EvalContext): CandidateCheck {
  const cover = findCoveringMount(ctx.table, mount);
  return cover
    ? {
      name: "visible",
      status: "fail",
      detail: `hidden under mount ${cover.mountId} (${cover.fsType}, root '${cover.root}') at ${
        ctx.prefix + cover.mountPoint
      }`,
    }
    : { name: "visible", status: "pass", detail: "not covered by another mount" };
}

function inodeCheck(mount: MountInfo, ctx: EvalContext, path: string): CandidateCheck {
  const stat = ctx.probe.statDir(path);
  if (stat.status === "skipped") return { name: "inode", status: "skipped", detail: stat.reason };
  if (stat.status === "error") {
    return { name: "inode", status: "fail", detail: `cannot stat ${path}: ${stat.reason}` };
  }
  const expected = encodeDevice(mount.major, mount.minor);
  if (stat.value.dev !== expected) {
    return {
      name: "inode",
      status: "fail",
      detail: `${path} is on device ${
        formatDevice(stat.value.dev)
      }, not this mount's ${mount.major}:${mount.minor}`,
    };
  }
  if (stat.value.ino !== 1n) {
    return {
      name: "inode",
      status: "fail",
      detail:
        `inode ${stat.value.ino}, not 1: the directory is a cgroup inside the hierarchy, not its root`,
    };
  }
  return { name: "inode", status: "pass", detail: "inode 1 (hierarchy root)" };
}

function formatDevice(dev: bigint): string {
  const major = (dev & 0xfff00n) >> 8n;
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xfff00n);
  return `${major}:${minor}`;
}

function namespaceCheck(ctx: EvalContext): CandidateCheck {
  if (ctx.origin !== "agent") {
    return {
      name: "namespace",
      status: "pass",
      detail: `reached through ${ctx.prefix} (PID ${ctx.pid} is in the host namespaces)`,
    };
  }
  const ns = ctx.namespace;
  if (ns.kind === "host") return { name: "namespace", status: "pass", detail: ns.detail };
  if (ns.kind === "private") {
    return {
      name: "namespace",
      status: "fail",
      detail: "the agent is in a private cgroup namespace, where mount roots are relative to it",
    };
  }
  return ns.skipped ? { name: "namespace", status: "skipped", detail: ns.detail } : {
    name: "namespace",
    status: "fail",
    detail: `host cgroup namespace not proven: ${ns.detail}`,
  };
}

function namespaceState(probe: HostProbe, input: HierarchyInput): NamespaceState {
  const probed = probe.cgroupNamespace();
  if (probed.status === "ok") return fromFacts(probed.value);
  // Captured files can still prove a private namespace: the kernel only prints '/..' in
  // mountinfo roots and /proc/<pid>/cgroup paths for a reader inside a non-initial one.
  const relative = input.mounts.find((m) => isCgroupMount(m) && m.root.startsWith("/.."))?.root ??
    input.taskCgroups?.find((l) => l.path.startsWith("/.."))?.path;
  if (relative) {
    return {
      kind: "private",
      detail:
        `'${relative}' in the captured files: '/..' only appears inside a non-initial cgroup namespace`,
      skipped: false,
    };
  }
  return probed.status === "skipped"
    ? { kind: "unknown", detail: probed.reason, skipped: true }
    : { kind: "unknown", detail: probed.reason, skipped: false };
}

function fromFacts(facts: NamespaceFacts): NamespaceState {
  return { kind: facts.kind, detail: facts.detail, skipped: false };
}

function pickAccepted(candidates: readonly Candidate[], log: string[], where: string) {
  const accepted = candidates.filter((c) => c.accepted)
    .sort((a, b) => (a.mountId ?? 0) - (b.mountId ?? 0));
  if (accepted.length > 1) {
    log.push(
      `${accepted.length} mounts in the ${where} expose the hierarchy root; using mount ${
        accepted[0]?.mountId
      } (lowest id, a stable choice: they are views of one hierarchy)`,
    );
  } else if (accepted.length === 0) {
    log.push(`no mount in the ${where} qualifies`);
  }
  return accepted[0] ?? null;
}

type HostViewOutcome =
  | { status: "ok"; nsPath: string }
  | { status: "error" | "skipped"; reason: string }
  | { status: "not consulted" };

function planPrivateMount(
  target: HierarchyTarget,
  ns: NamespaceState,
  hostView: HostViewOutcome,
): PrivateMountPlan {
  const fstype = target.kind === "unified" ? "cgroup2" : "cgroup";
  const options = target.kind === "unified" ? [] : target.hierarchyControllers;
  const what = `mount the host's ${describeTarget(target)} privately (${fstype}${
    options.length ? ` -o ${options.join(",")}` : ""
  }) and unmount it on close`;
  if (ns.kind === "host") {
    return {
      fstype,
      options,
      enterCgroupNs: null,
      reason: `${what}; the agent is in the host cgroup namespace`,
    };
  }
  if (hostView.status === "ok") {
    return {
      fstype,
      options,
      enterCgroupNs: hostView.nsPath,
      reason: `${what}, entering the host cgroup namespace through ${hostView.nsPath} first`,
    };
  }
  let why: string;
  if (ns.kind === "unknown" && ns.skipped) {
    why = "offline, so whether the host cgroup namespace must be entered first is unknown";
  } else if (hostView.status === "skipped") {
    why = "the host cgroup namespace must be entered first (through /proc/<pid>/ns/cgroup of a " +
      "host process); offline, so whether one is visible is unknown";
  } else {
    why = "no host-namespace process is visible to enter the host cgroup namespace, so the " +
      "mount may be rooted at the agent's namespace; it is verified (inode 1) before use";
  }
  return { fstype, options, enterCgroupNs: null, reason: `${what}; ${why}` };
}

function selectorFor(
  target: HierarchyTarget,
  probe: HostProbe,
  log: string[],
): BpfCgroupSelector | null {
  if (target.kind === "unified") {
    log.push("target: unified (cgroup2) hierarchy: BPF uses bpf_get_current_cgroup_id()");
    return { version: 2 };
  }
  const ids = probe.subsysIds();
  const kernel = ids.status === "ok" ? ids.value.get(btfSubsysName(target.controller)) : undefined;
  const line = target.lineIndex;
  let index: number | null = line;
  let note: string;
  if (kernel !== undefined) {
    index = kernel;
    note = line === null || line === kernel
      ? `enum cgroup_subsys_id says ${kernel}`
      : `/proc/cgroups line position ${line} differs from enum cgroup_subsys_id ${kernel} (the file hides controllers unavailable on v1 since Linux 6.11); using ${kernel}`;
  } else if (line !== null) {
    note = `line position in /proc/cgroups; not cross-checked: ${
      ids.status === "ok" ? "controller missing from enum cgroup_subsys_id" : ids.reason
    }`;
  } else {
    note = "unknown: /proc/cgroups was not read";
  }
  log.push(
    `target: v1 ${target.controller} hierarchy${
      target.hierarchyId !== null ? ` (hierarchy ${target.hierarchyId})` : ""
    }, subsystem index ${index ?? "?"} (${note})`,
  );
  return index === null ? null : {
    version: 1,
    controller: target.controller,
    subsysIndex: index,
    hierarchyId: target.hierarchyId,
  };
}
