/**
 * Container identity from a cgroup path, by an ordered table of rules (one per runtime layout).
 *
 * The path is scanned from the root down and the first component that is a container's own
 * cgroup wins, so sub-cgroups below a container (crun's `container`, garden's `init`, systemd or
 * another runtime inside the container) resolve to the OUTERMOST container; `isRoot` tells whether
 * the path is that container's own cgroup. At one component, rules are tried in table order.
 * Leading `/..` components (paths read from inside a cgroup namespace) are ignored.
 *
 * Ids are full ids as they appear in the path (64-hex for OCI runtimes); use {@link shortId}
 * for Docker's 12-character form and {@link containerUri} for `<runtime>://<id>`.
 *
 * @module
 */
import { podUidFromParts } from "./pod_uid.ts";

/** Runtime names used in `<runtime>://<id>`. */
export type ContainerRuntime =
  | "docker"
  | "containerd"
  | "cri-o"
  | "podman"
  | "garden"
  | "ecs"
  | "lxc"
  | "bpm";

/** Who runs the process whose cgroup was parsed. */
export interface ContainerIdentity {
  /** The runtime, by its layout. */
  runtime: ContainerRuntime;
  /** The container id (or LXC/bpm name, garden handle) as in the path. */
  id: string;
  /** Kubernetes pod UID when the path is below a kubepods pod cgroup, else null. */
  podUid: string | null;
  /** True when the path is the container's own cgroup, false for a sub-cgroup inside it. */
  isRoot: boolean;
}

/** One layout: does component `i` of `parts` name a container's own cgroup? Returns its id. */
export interface ContainerRule {
  /** Layout name, for tests and docs. */
  name: string;
  /** Runtime reported on a match. */
  runtime: ContainerRuntime;
  /** The id when `parts[i]` is the container's own cgroup, else null. */
  match(parts: readonly string[], i: number): string | null;
}

const HEX64 = /^[0-9a-f]{64}$/;
/** Garden instance GUID: the first 28 characters of a v4 UUID (`rep.LRPContainerGuid`). */
const GARDEN_INSTANCE_GUID = /^[0-9a-f]{8}(?:-[0-9a-f]{4}){4}$/;
/** Garden task GUID (tasks, staging, peas): a full 36-character UUID. */
const GARDEN_TASK_GUID = /^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;
/** `garden`, or `garden-<tag>` with gdn's `--tag`; never a systemd unit. */
const GARDEN_ROOT = /^garden(?:-[A-Za-z0-9_.-]+)?$/;
const SYSTEMD_UNIT = /\.(?:slice|scope|service|mount|socket)$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** ECS task id: 32-hex (current ARN format) or a UUID (older). */
const ECS_TASK = /^(?:[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})$/;
/** ECS container: a Docker id on EC2, `<task>-<digits>` on Fargate. */
const ECS_CONTAINER = /^(?:[0-9a-f]{64}|[0-9a-f]{32}-\d+)$/;
/** containerd namespaces whose `/<namespace>/<id>` paths are accepted with any id shape. */
const CONTAINERD_NAMESPACES = new Set(["default", "k8s.io", "moby", "buildkit"]);

/** A rule on the component alone: the first capture group is the id. */
function component(pattern: RegExp): ContainerRule["match"] {
  return (parts, i) => pattern.exec(parts[i] as string)?.[1] ?? null;
}

function gardenHandle(parts: readonly string[], i: number): string | null {
  const part = parts[i] as string;
  if (!GARDEN_INSTANCE_GUID.test(part) && !GARDEN_TASK_GUID.test(part)) return null;
  const isRoot = (p: string | undefined) =>
    p !== undefined && GARDEN_ROOT.test(p) && !SYSTEMD_UNIT.test(p);
  const parent = parts[i - 1];
  // CPU throttling puts containers under <root>/good and <root>/bad.
  const underRoot = isRoot(parent) ||
    ((parent === "good" || parent === "bad") && isRoot(parts[i - 2]));
  return underRoot ? part : null;
}

function lxcName(parts: readonly string[], i: number): string | null {
  const part = parts[i] as string;
  const payload = /^lxc\.payload\.(.+)$/.exec(part);
  if (payload?.[1]) return payload[1];
  const parent = parts[i - 1];
  return (parent === "lxc" || parent === "lxc.payload") && NAME.test(part) ? part : null;
}

/**
 * `/ecs/<task>/<container>`, and deeper: levels may sit between `ecs` and the task (a cluster
 * name) or between the task and the container, so the container is any container-shaped component
 * with an `ecs` ancestor and a task id between them.
 */
function ecsContainer(parts: readonly string[], i: number): string | null {
  const part = parts[i] as string;
  if (!ECS_CONTAINER.test(part) || i < 2) return null;
  const ecs = parts.lastIndexOf("ecs", i - 2);
  return ecs >= 0 && parts.slice(ecs + 1, i).some((p) => ECS_TASK.test(p)) ? part : null;
}

function kubepodsCgroupfs(parts: readonly string[], i: number): string | null {
  const part = parts[i] as string;
  return HEX64.test(part) && /^pod[0-9a-f-]{32,36}$/.test(parts[i - 1] ?? "") &&
      parts.slice(0, i - 1).some((p) => p === "kubepods" || p.endsWith("-kubepods"))
    ? part
    : null;
}

function containerdNamespace(parts: readonly string[], i: number): string | null {
  const [namespace, id] = parts;
  if (i !== 1 || namespace === undefined || id === undefined) return null;
  if (!NAME.test(namespace) || !NAME.test(id) || SYSTEMD_UNIT.test(namespace)) return null;
  if (SYSTEMD_UNIT.test(id)) return null;
  return CONTAINERD_NAMESPACES.has(namespace) || HEX64.test(id) ? id : null;
}

/**
 * The rules, in the order they are tried at each component. Negative cases are excluded by the
 * patterns themselves: `crio-conmon-<id>.scope` and `libpod-conmon-<id>.scope` (the runtime's
 * monitor, a sibling of the container), `lxc.monitor.<name>`, `init.scope`, plain services.
 */
export const CONTAINER_RULES: readonly ContainerRule[] = [
  {
    name: "docker (systemd driver)",
    runtime: "docker",
    match: component(/^docker-([0-9a-f]{64})\.scope$/),
  },
  {
    name: "containerd CRI (systemd driver)",
    runtime: "containerd",
    match: component(/^cri-containerd-([0-9a-f]{64})\.scope$/),
  },
  {
    name: "containerd CRI (cgroupfs driver, systemd-style parent)",
    runtime: "containerd",
    match: component(/^[^/]*:cri-containerd:([0-9a-f]{64})$/),
  },
  {
    name: "nerdctl (systemd driver)",
    runtime: "containerd",
    match: component(/^nerdctl-([0-9a-f]{64})\.scope$/),
  },
  { name: "CRI-O", runtime: "cri-o", match: component(/^crio-([0-9a-f]{64})(?:\.scope)?$/) },
  {
    name: "podman (root, rootless, split mode)",
    runtime: "podman",
    match: component(/^libpod-(?:payload-)?([0-9a-f]{64})(?:\.scope)?$/),
  },
  {
    name: "docker (cgroupfs driver)",
    runtime: "docker",
    match: (p, i) => p[i - 1] === "docker" && HEX64.test(p[i] as string) ? p[i] as string : null,
  },
  {
    // A bare id under a kubepods pod cgroup: containerd's CRI with the cgroupfs driver (CRI-O
    // adds its crio- prefix; dockershim, removed in Kubernetes 1.24, used the same shape).
    name: "kubepods (cgroupfs driver)",
    runtime: "containerd",
    match: kubepodsCgroupfs,
  },
  { name: "ECS task container", runtime: "ecs", match: ecsContainer },
  { name: "garden", runtime: "garden", match: gardenHandle },
  { name: "LXC", runtime: "lxc", match: lxcName },
  { name: "BOSH bpm", runtime: "bpm", match: component(/^bpm-([A-Za-z0-9._-]+?)(?:\.scope)?$/) },
  {
    name: "containerd namespace (/<namespace>/<id>)",
    runtime: "containerd",
    match: containerdNamespace,
  },
];

/** Splits a cgroup path into components, dropping the `/..` prefix of a namespaced view. */
export function cgroupPathParts(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== "..");
}

/**
 * Parses a cgroup path (as in `/proc/<pid>/cgroup` or relative to a hierarchy root) into the
 * outermost container it belongs to, or null for host cgroups.
 *
 * @example
 * ```ts
 * parseContainerPath("/system.slice/docker-" + "a".repeat(64) + ".scope/init.scope");
 * // { runtime: "docker", id: "aaaa…", podUid: null, isRoot: false }
 * ```
 */
export function parseContainerPath(
  path: string,
  rules: readonly ContainerRule[] = CONTAINER_RULES,
): ContainerIdentity | null {
  const parts = cgroupPathParts(path);
  for (let i = 0; i < parts.length; i++) {
    // Slices and services are never a container's own cgroup (runtimes use scopes or plain dirs).
    if (SYSTEMD_UNIT.test(parts[i] as string) && !(parts[i] as string).endsWith(".scope")) continue;
    for (const rule of rules) {
      const id = rule.match(parts, i);
      if (id === null) continue;
      return {
        runtime: rule.runtime,
        id,
        podUid: podUidFromParts(parts.slice(0, i + 1)),
        isRoot: i === parts.length - 1,
      };
    }
  }
  return null;
}

/**
 * `<runtime>://<id>`, the form of Kubernetes' `containerID` and of `pod.container.id`.
 *
 * @example
 * ```ts
 * containerUri({ runtime: "cri-o", id: "abc", podUid: null, isRoot: true }); // "cri-o://abc"
 * ```
 */
export function containerUri(identity: ContainerIdentity): string {
  return `${identity.runtime}://${identity.id}`;
}

/**
 * Docker's short id: the first 12 characters of a 64-hex id; other ids are returned unchanged.
 *
 * @example
 * ```ts
 * shortId("0123456789abcdef".repeat(4)); // "0123456789ab"
 * ```
 */
export function shortId(id: string): string {
  return HEX64.test(id) ? id.slice(0, 12) : id;
}

/** Longest container id containerd accepts (`identifiers.Validate`: 76 characters). */
const MAX_RUNTIME_ID = 76;

/**
 * Whether a cgroup path component could be a runtime's container name (`ctr run --cgroup
 * /grp/web-1 … web-1` makes the leaf `web-1`): a plain name, not a systemd unit.
 *
 * @example
 * ```ts
 * mayBeRuntimeName("web-1"); // true
 * mayBeRuntimeName("user.slice"); // false
 * ```
 */
export function mayBeRuntimeName(part: string): boolean {
  return part.length <= MAX_RUNTIME_ID && NAME.test(part) && !SYSTEMD_UNIT.test(part);
}

/**
 * The outermost component of `path` that a runtime reports as one of its container ids, for
 * layouts no rule knows (a leaf named after the container rather than a 64-hex id).
 * `runtimeOf` answers from the runtime's own list, so no name is guessed.
 *
 * @example
 * ```ts
 * matchRuntimeIds("/tenants/web-1", (n) => n === "web-1" ? "containerd" : undefined);
 * // { runtime: "containerd", id: "web-1", podUid: null, isRoot: true }
 * ```
 */
export function matchRuntimeIds(
  path: string,
  runtimeOf: (name: string) => ContainerRuntime | undefined,
): ContainerIdentity | null {
  const parts = cgroupPathParts(path);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (!mayBeRuntimeName(part)) continue;
    const runtime = runtimeOf(part);
    if (runtime === undefined) continue;
    return {
      runtime,
      id: part,
      podUid: podUidFromParts(parts.slice(0, i + 1)),
      isRoot: i === parts.length - 1,
    };
  }
  return null;
}
