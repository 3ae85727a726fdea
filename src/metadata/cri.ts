/**
 * The CRI runtime service (`runtime.v1.RuntimeService`, Kubernetes' container runtime interface):
 * pod sandboxes and containers as kubelet sees them. containerd serves it on its own socket when
 * its CRI plugin is loaded (CRI-O serves it too). Field numbers follow `k8s.io/cri-api`
 * `pkg/apis/runtime/v1/api.proto`.
 *
 * @module
 */
import { type GrpcUnixClient } from "./grpc.ts";
import { ProtoMessage, ProtoWriter, unixNanosToRfc3339 } from "./protobuf.ts";

const SERVICE = "/runtime.v1.RuntimeService";

/** A pod sandbox (`PodSandbox`). */
export interface CriPodSandbox {
  id: string;
  name: string;
  uid: string;
  namespace: string;
  /** 0 SANDBOX_READY, 1 SANDBOX_NOTREADY. */
  state: number;
  createdAt?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A container (`Container`). */
export interface CriContainer {
  id: string;
  podSandboxId: string;
  name: string;
  image: string;
  imageRef: string;
  /** 0 CREATED, 1 RUNNING, 2 EXITED, 3 UNKNOWN. */
  state: number;
  createdAt?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Decodes a `PodSandbox` message. */
export function decodePodSandbox(m: ProtoMessage): CriPodSandbox {
  const meta = m.message(2);
  const created = unixNanosToRfc3339(m.bigint(4));
  return {
    id: m.string(1),
    name: meta?.string(1) ?? "",
    uid: meta?.string(2) ?? "",
    namespace: meta?.string(3) ?? "",
    state: m.int(3),
    ...(created ? { createdAt: created } : {}),
    labels: m.stringMap(5),
    annotations: m.stringMap(6),
  };
}

/** Decodes a `Container` message. */
export function decodeCriContainer(m: ProtoMessage): CriContainer {
  const created = unixNanosToRfc3339(m.bigint(7));
  return {
    id: m.string(1),
    podSandboxId: m.string(2),
    name: m.message(3)?.string(1) ?? "",
    image: m.message(4)?.string(1) ?? "",
    imageRef: m.string(5),
    state: m.int(6),
    ...(created ? { createdAt: created } : {}),
    labels: m.stringMap(8),
    annotations: m.stringMap(9),
  };
}

/** `ListPodSandbox`, optionally filtered by labels (e.g. `io.kubernetes.pod.uid`). */
export async function listPodSandboxes(
  client: GrpcUnixClient,
  timeoutMs: number,
  labelSelector?: Readonly<Record<string, string>>,
): Promise<CriPodSandbox[]> {
  const req = new ProtoWriter();
  if (labelSelector) req.message(1, new ProtoWriter().stringMap(3, labelSelector));
  const res = await client.unary(`${SERVICE}/ListPodSandbox`, req.finish(), { timeoutMs });
  return new ProtoMessage(res).repeatedMessages(1).map(decodePodSandbox);
}
