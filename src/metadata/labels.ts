/**
 * Kubelet's labels on runtime containers and sandboxes, and helpers shared by the sources.
 *
 * Kubelet labels every container it creates through CRI with the pod's namespace, name and UID
 * and the container's name (`io.kubernetes.pod.*`, `io.kubernetes.container.name`); a pod
 * sandbox carries the pod's own labels plus the three pod keys. containerd adds
 * `io.cri-containerd.kind` (`sandbox` | `container`); Docker (cri-dockerd) adds
 * `io.kubernetes.docker.type` (`podsandbox` | `container`).
 *
 * @module
 */

export const POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace";
export const POD_NAME_LABEL = "io.kubernetes.pod.name";
export const POD_UID_LABEL = "io.kubernetes.pod.uid";
export const CONTAINER_NAME_LABEL = "io.kubernetes.container.name";
export const CONTAINERD_KIND_LABEL = "io.cri-containerd.kind";
export const DOCKER_TYPE_LABEL = "io.kubernetes.docker.type";

/** Pod identity from kubelet's labels, or undefined when the container is not kubelet's. */
export interface KubeletIdentity {
  namespace?: string;
  name?: string;
  uid?: string;
  containerName?: string;
  /** True for the pod's sandbox ("pause") container. */
  sandbox: boolean;
}

/** Reads kubelet's labels; undefined when none of the pod keys is present. */
export function kubeletIdentity(
  labels: Readonly<Record<string, string>>,
): KubeletIdentity | undefined {
  const namespace = labels[POD_NAMESPACE_LABEL];
  const name = labels[POD_NAME_LABEL];
  const uid = labels[POD_UID_LABEL];
  if (!namespace && !name && !uid) return undefined;
  const containerName = labels[CONTAINER_NAME_LABEL];
  const sandbox = labels[CONTAINERD_KIND_LABEL] === "sandbox" ||
    labels[DOCKER_TYPE_LABEL] === "podsandbox" || containerName === "POD";
  const id: KubeletIdentity = { sandbox };
  if (namespace) id.namespace = namespace;
  if (name) id.name = name;
  if (uid) id.uid = uid;
  if (containerName && containerName !== "POD") id.containerName = containerName;
  return id;
}

/** Keys kubelet or a runtime adds to a sandbox's labels, which are not the pod's own labels. */
function isRuntimeLabel(key: string): boolean {
  return key === POD_NAMESPACE_LABEL || key === POD_NAME_LABEL || key === POD_UID_LABEL ||
    key === CONTAINER_NAME_LABEL || key.startsWith("io.cri-containerd.") ||
    key.startsWith("io.containerd.") ||
    key.startsWith("io.kubernetes.docker.") || key.startsWith("io.kubernetes.container.") ||
    key.startsWith("annotation.");
}

/** The pod's own labels from a sandbox's labels. */
export function podLabelsFromSandbox(
  labels: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (!isRuntimeLabel(k)) out[k] = v;
  return out;
}

/** Annotations too large or too sensitive to carry on every event. */
const DROPPED_ANNOTATIONS = new Set(["kubectl.kubernetes.io/last-applied-configuration"]);

/** Pod annotations without kubectl's last-applied configuration. */
export function keptAnnotations(
  annotations: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) if (!DROPPED_ANNOTATIONS.has(k)) out[k] = v;
  return out;
}

/** The repository part of an image reference (`registry:5000/a/b:tag@sha…` → `registry:5000/a/b`). */
export function imageRepository(ref: string): string {
  const at = ref.indexOf("@");
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = noDigest.lastIndexOf(":");
  return colon > noDigest.lastIndexOf("/") ? noDigest.slice(0, colon) : noDigest;
}

/** An image id as kubelet reports it: `<repository>@<digest>`, or the digest alone. */
export function imageIdOf(ref: string | undefined, digest: string | undefined): string | undefined {
  if (!digest) return undefined;
  if (!ref || ref.startsWith("sha256:")) return digest;
  return `${imageRepository(ref)}@${digest}`;
}
