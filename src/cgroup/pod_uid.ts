/**
 * Kubernetes pod UID from a kubelet cgroup path, for both cgroup drivers and every QoS class:
 *
 * - systemd: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/...`
 *   (Guaranteed pods: `kubepods-pod<uid>.slice`), with `-` in the UID escaped as `_`;
 * - cgroupfs: `/kubepods/burstable/pod<uid>/...` (Guaranteed pods: `/kubepods/pod<uid>/...`).
 *
 * Static (mirror) pods have a 32-hex UID without dashes. A `--cgroup-root` prefix (kind,
 * minikube: `kubelet-kubepods-...`) and the `<pod slice>:cri-containerd:<id>` form are accepted.
 *
 * @module
 */

const UID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}";
const ESCAPED_UID = "[0-9a-f]{8}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{4}_[0-9a-f]{12}|[0-9a-f]{32}";
const SYSTEMD_POD = new RegExp(
  `^(?:[A-Za-z0-9_.]+-)?kubepods(?:-besteffort|-burstable)?-pod(${ESCAPED_UID})\\.slice(?::|$)`,
);
const CGROUPFS_POD = new RegExp(`^pod(${UID})$`);
const QOS = new Set(["besteffort", "burstable"]);

/**
 * Returns the pod UID (dashed form, or the 32-hex static-pod form) found among `parts`, the
 * path components, or null.
 *
 * @example
 * ```ts
 * podUidFromParts(["kubepods", "burstable", "pod6795064b-0010-4189-a6fd-fcb7a661cc2c", "abc"]);
 * // "6795064b-0010-4189-a6fd-fcb7a661cc2c"
 * ```
 */
export function podUidFromParts(parts: readonly string[]): string | null {
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const systemd = SYSTEMD_POD.exec(part);
    if (systemd?.[1]) return systemd[1].replaceAll("_", "-");
    const cgroupfs = CGROUPFS_POD.exec(part);
    if (cgroupfs?.[1] && isKubepodsParent(parts, i)) return cgroupfs[1];
  }
  return null;
}

function isKubepodsParent(parts: readonly string[], i: number): boolean {
  const parent = parts[i - 1] ?? "";
  const isKubepods = (p: string) => p === "kubepods" || p.endsWith("-kubepods");
  return isKubepods(parent) || (QOS.has(parent) && isKubepods(parts[i - 2] ?? ""));
}

/**
 * Pod UID from a cgroup path (leading `/..` from a cgroup namespace is ignored).
 *
 * @example
 * ```ts
 * podUidFromPath("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6795064b_0010_4189_a6fd_fcb7a661cc2c.slice");
 * // "6795064b-0010-4189-a6fd-fcb7a661cc2c"
 * ```
 */
export function podUidFromPath(path: string): string | null {
  return podUidFromParts(path.split("/").filter((p) => p !== "" && p !== ".."));
}
