/**
 * Whether a mount listed in mountinfo is actually reachable at its mountpoint, or hidden under a
 * later mount (a runtime stacking a pod's cgroup over the host's `/sys/fs/cgroup/memory`, or a
 * tmpfs over `/sys/fs/cgroup`). A hidden mount's path leads somewhere else, so using it would
 * read the covering mount's cgroups.
 *
 * @module
 */
import type { MountInfo } from "./mountinfo.ts";

/** True when `ancestor` equals `path` or is one of its parent directories. */
export function isPathPrefix(ancestor: string, path: string): boolean {
  if (ancestor === "/" || ancestor === path) return true;
  return path.startsWith(ancestor.endsWith("/") ? ancestor : ancestor + "/");
}

/**
 * Returns the mount that covers `mount` (so its mountpoint no longer reaches it), or undefined
 * when it is visible. A mount N covers M when N hangs off M's chain of parents at a point at or
 * above M's path: stacked on M itself at the same mountpoint, or on an ancestor at a directory
 * that contains the next mount of M's chain (N was mounted after that chain was built, otherwise
 * the chain would run through N).
 *
 * @example
 * ```ts
 * // host memory mount (id 35) and a pod's cgroup bind-mounted on top (parent 35, same path)
 * findCoveringMount(mounts, hostMemory)?.mountId; // the bind mount's id
 * ```
 */
export function findCoveringMount(
  mounts: readonly MountInfo[],
  mount: MountInfo,
): MountInfo | undefined {
  const byId = new Map(mounts.map((m) => [m.mountId, m]));
  const chain: MountInfo[] = [mount];
  for (let m = byId.get(mount.parentId); m && !chain.includes(m); m = byId.get(m.parentId)) {
    chain.push(m);
  }
  return mounts.find((other) => {
    if (chain.includes(other)) return false;
    const at = chain.findIndex((c) => c.mountId === other.parentId);
    if (at < 0) return false;
    if (at === 0) return other.mountPoint === mount.mountPoint;
    const below = chain[at - 1] as MountInfo;
    if (other.mountPoint === below.mountPoint) {
      // Two siblings on one directory ("tucked" mounts): the later one is on top. Ids can be
      // reused, so this is a best effort for a rare layout.
      return other.mountId > below.mountId;
    }
    return isPathPrefix(other.mountPoint, below.mountPoint);
  });
}
