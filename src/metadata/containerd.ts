/**
 * containerd as a metadata source: every container of every namespace, with its labels and
 * image, through containerd's gRPC API on its unix socket; plus pod labels (and optionally
 * annotations) of pod sandboxes from the CRI runtime service on the same socket when the CRI
 * plugin is loaded.
 *
 * Kubelet-created containers (namespace `k8s.io`) carry `io.kubernetes.pod.*` and
 * `io.kubernetes.container.name` labels and become a Tetragon `pod` object; other containers
 * (`ctr`, nerdctl, Docker's `moby` namespace) get a top-level `container` object only.
 *
 * Services and field numbers: `containerd.services.namespaces.v1.Namespaces/List`,
 * `containerd.services.containers.v1.Containers/List|Get` (Container: id 1, labels 2, image 3,
 * created_at 8), `containerd.services.images.v1.Images/Get` (Image.target 3 → Descriptor.digest 2).
 * The namespace of a call goes in the `containerd-namespace` request header.
 *
 * @module
 */
import type { ContainerRuntime } from "../cgroup/container.ts";
import type { Logger } from "../log/logger.ts";
import { MetadataCache, type MetadataCacheOptions } from "./cache.ts";
import { listPodSandboxes } from "./cri.ts";
import { GrpcError, GrpcStatus, GrpcUnixClient } from "./grpc.ts";
import { detectSocket, errorText, HealthTracker } from "./health.ts";
import {
  CONTAINERD_KIND_LABEL,
  imageIdOf,
  keptAnnotations,
  kubeletIdentity,
  POD_UID_LABEL,
  podLabelsFromSandbox,
} from "./labels.ts";
import { ProtoMessage, ProtoWriter, timestampToRfc3339 } from "./protobuf.ts";
import type {
  ContainerMetadata,
  ContainerRef,
  MetadataSource,
  SourceHealth,
  WorkloadMetadata,
} from "./types.ts";

/** containerd's default socket. */
export const CONTAINERD_SOCKET = "/run/containerd/containerd.sock";

const NS_LIST = "/containerd.services.namespaces.v1.Namespaces/List";
const CONTAINERS_LIST = "/containerd.services.containers.v1.Containers/List";
const CONTAINERS_GET = "/containerd.services.containers.v1.Containers/Get";
const IMAGES_GET = "/containerd.services.images.v1.Images/Get";

/** Options of {@link ContainerdSource}. */
export interface ContainerdSourceOptions {
  /** Default {@link CONTAINERD_SOCKET}. */
  socketPath?: string;
  /**
   * `"auto"` (default): `disabled` while the socket does not exist, tried again at each resync;
   * `true`: a missing socket is `down`; `false`: never used.
   */
  enabled?: boolean | "auto";
  /** Namespaces to read; default all (`Namespaces/List`), `k8s.io` first. */
  namespaces?: string[];
  /** Read pod sandboxes from the CRI runtime service on the same socket; default true. */
  cri?: boolean;
  /** Keep pod annotations (`pod.pod_annotations`); default false. */
  podAnnotations?: boolean;
  /** Per-call deadline; default 3000 ms. */
  timeoutMs?: number;
  /** Size and grace period of the container cache. */
  cache?: MetadataCacheOptions;
  logger?: Logger;
}

interface RawContainer {
  namespace: string;
  id: string;
  labels: Record<string, string>;
  image: string;
  createdAt?: string;
}

interface PodInfo {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
}

function decodeContainer(namespace: string, m: ProtoMessage): RawContainer {
  const created = timestampToRfc3339(m.message(8));
  return {
    namespace,
    id: m.string(1),
    labels: m.stringMap(2),
    image: m.string(3),
    ...(created ? { createdAt: created } : {}),
  };
}

/** Metadata of one container from containerd's record (exported for tests). */
export function containerdMetadata(
  c: RawContainer,
  imageDigest: string | undefined,
  pod: PodInfo | undefined,
): WorkloadMetadata {
  const kube = kubeletIdentity(c.labels);
  const container: ContainerMetadata = { id: `containerd://${c.id}` };
  const name = kube ? kube.containerName : c.labels["nerdctl/name"];
  if (name) container.name = name;
  if (c.image) {
    const id = imageIdOf(c.image, imageDigest);
    container.image = { name: c.image, ...(id ? { id } : {}) };
  }
  if (c.createdAt) container.start_time = c.createdAt;
  if (!kube) return { container };
  return {
    pod: {
      ...(kube.namespace ? { namespace: kube.namespace } : {}),
      ...(kube.name ? { name: kube.name } : {}),
      ...(kube.uid ? { uid: kube.uid } : {}),
      container,
      ...(pod ? { pod_labels: pod.labels } : {}),
      ...(pod?.annotations ? { pod_annotations: pod.annotations } : {}),
    },
  };
}

/** Container metadata from containerd (and pod labels from CRI), cached by container id. */
export class ContainerdSource implements MetadataSource {
  readonly name = "containerd";
  readonly socketPath: string;
  readonly #mode: boolean | "auto";
  readonly #client: GrpcUnixClient;
  readonly #timeoutMs: number;
  readonly #criEnabled: boolean;
  readonly #podAnnotations: boolean;
  readonly #fixedNamespaces: string[] | undefined;
  readonly #cache: MetadataCache<WorkloadMetadata>;
  /** Pod UID → pod labels/annotations (from CRI sandboxes or sandbox containers). */
  readonly #pods: MetadataCache<PodInfo>;
  /** `<namespace>\0<image name>` → digest. */
  readonly #images = new MetadataCache<string>({ maxEntries: 1024, graceMs: 0 });
  readonly #health: HealthTracker;
  readonly #log: Logger | undefined;
  #namespaces: string[] = [];
  /** null: not probed yet; false: the socket does not serve CRI. */
  #criAvailable: boolean | null = null;
  #closed = false;

  constructor(options: ContainerdSourceOptions = {}) {
    this.socketPath = options.socketPath ?? CONTAINERD_SOCKET;
    this.#mode = options.enabled ?? "auto";
    this.#client = new GrpcUnixClient(this.socketPath);
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#criEnabled = options.cri ?? true;
    this.#podAnnotations = options.podAnnotations ?? false;
    this.#fixedNamespaces = options.namespaces;
    this.#cache = new MetadataCache(options.cache);
    this.#pods = new MetadataCache({ ...options.cache, graceMs: options.cache?.graceMs });
    this.#log = options.logger;
    this.#health = new HealthTracker(this.#mode === false ? "disabled" : "down");
    this.#detect();
  }

  /** Applies the `enabled` mode (see `detectSocket`). */
  #detect(): boolean {
    return detectSocket(this.#mode, this.socketPath, this.#health);
  }

  health(): SourceHealth {
    return this.#health.snapshot(this.#cache.size);
  }

  lookup(ref: ContainerRef): WorkloadMetadata | undefined {
    return this.#cache.get(ref.id);
  }

  runtimeOf(id: string): ContainerRuntime | undefined {
    return this.#cache.get(id) === undefined ? undefined : "containerd";
  }

  async refresh(ref: ContainerRef): Promise<void> {
    if (this.#closed || this.#cache.isLive(ref.id) || !this.#detect() || !this.#health.mayTry()) {
      return;
    }
    try {
      if (this.#namespaces.length === 0) this.#namespaces = await this.#listNamespaces();
      for (const ns of this.#namespaces) {
        const raw = await this.#getContainer(ns, ref.id);
        if (raw === undefined) continue;
        const uid = raw.labels[POD_UID_LABEL];
        if (uid && !this.#pods.isLive(uid)) await this.#loadPod(ns, uid);
        this.#cache.set(raw.id, await this.#build(raw));
        break;
      }
      this.#health.ok();
    } catch (err) {
      this.#failed(err, "refresh");
    }
  }

  async resync(): Promise<void> {
    if (this.#closed || !this.#detect() || !this.#health.mayTry()) return;
    try {
      this.#namespaces = await this.#listNamespaces();
      const all: RawContainer[] = [];
      for (const ns of this.#namespaces) all.push(...await this.#listContainers(ns));
      const pods = new Map<string, PodInfo>();
      // Sandbox containers carry the pod's labels; CRI (below) also has the annotations.
      for (const c of all) {
        const uid = c.labels[POD_UID_LABEL];
        if (uid && c.labels[CONTAINERD_KIND_LABEL] === "sandbox") {
          pods.set(uid, { labels: podLabelsFromSandbox(c.labels) });
        }
      }
      for (const [uid, info] of await this.#criPods()) pods.set(uid, info);
      for (const [uid, info] of pods) this.#pods.set(uid, info);
      this.#pods.retainOnly(new Set(pods.keys()));
      const live = new Set<string>();
      for (const c of all) {
        live.add(c.id);
        this.#cache.set(c.id, await this.#build(c));
      }
      this.#cache.retainOnly(live);
      this.#cache.sweep();
      this.#pods.sweep();
      this.#health.ok(true);
    } catch (err) {
      this.#failed(err, "sync");
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#client.close();
    return Promise.resolve();
  }

  #failed(err: unknown, kind: "sync" | "refresh"): void {
    const was = this.#health.state;
    this.#health.fail(err, kind);
    if (was === "up") {
      this.#log?.warn("metadata source down", { source: this.name, error: errorText(err) });
    }
  }

  #md(namespace: string): { timeoutMs: number; metadata: Record<string, string> } {
    return { timeoutMs: this.#timeoutMs, metadata: { "containerd-namespace": namespace } };
  }

  async #listNamespaces(): Promise<string[]> {
    if (this.#fixedNamespaces) return [...this.#fixedNamespaces];
    const res = await this.#client.unary(NS_LIST, new Uint8Array(0), {
      timeoutMs: this.#timeoutMs,
    });
    const names = new ProtoMessage(res).repeatedMessages(1).map((n) => n.string(1));
    // Kubernetes first: refreshes look there first.
    return names.sort((a, b) => (a === "k8s.io" ? -1 : b === "k8s.io" ? 1 : a.localeCompare(b)));
  }

  async #listContainers(namespace: string, filter?: string): Promise<RawContainer[]> {
    const req = new ProtoWriter().string(1, filter).finish();
    const res = await this.#client.unary(CONTAINERS_LIST, req, this.#md(namespace));
    return new ProtoMessage(res).repeatedMessages(1).map((c) => decodeContainer(namespace, c));
  }

  async #getContainer(namespace: string, id: string): Promise<RawContainer | undefined> {
    try {
      const res = await this.#client.unary(
        CONTAINERS_GET,
        new ProtoWriter().string(1, id).finish(),
        this.#md(namespace),
      );
      const m = new ProtoMessage(res).message(1);
      return m ? decodeContainer(namespace, m) : undefined;
    } catch (err) {
      if (err instanceof GrpcError && err.code === GrpcStatus.NOT_FOUND) return undefined;
      throw err;
    }
  }

  async #imageDigest(namespace: string, name: string): Promise<string | undefined> {
    if (!name) return undefined;
    const key = `${namespace}\0${name}`;
    const cached = this.#images.get(key);
    if (cached !== undefined) return cached || undefined;
    try {
      const res = await this.#client.unary(
        IMAGES_GET,
        new ProtoWriter().string(1, name).finish(),
        this.#md(namespace),
      );
      const digest = new ProtoMessage(res).message(1)?.message(3)?.string(2) ?? "";
      this.#images.set(key, digest);
      return digest || undefined;
    } catch (err) {
      // The image may be gone (or the images service disabled) while containers remain.
      if (err instanceof GrpcError && err.code !== GrpcStatus.UNAVAILABLE) {
        this.#images.set(key, "");
        return undefined;
      }
      throw err;
    }
  }

  #build(c: RawContainer): Promise<WorkloadMetadata> {
    return this.#imageDigest(c.namespace, c.image).then((digest) => {
      const uid = c.labels[POD_UID_LABEL];
      return containerdMetadata(c, digest, uid ? this.#pods.get(uid) : undefined);
    });
  }

  /** Pod UID → labels/annotations from CRI sandboxes; empty when CRI is off or absent. */
  async #criPods(labelSelector?: Record<string, string>): Promise<Map<string, PodInfo>> {
    const out = new Map<string, PodInfo>();
    if (!this.#criEnabled || this.#criAvailable === false) return out;
    try {
      const sandboxes = await listPodSandboxes(this.#client, this.#timeoutMs, labelSelector);
      this.#criAvailable = true;
      // Oldest first, so the newest attempt of a pod wins.
      sandboxes.sort((a, b) => (a.createdAt ?? "").localeCompare(b.createdAt ?? ""));
      for (const s of sandboxes) {
        if (!s.uid) continue;
        const info: PodInfo = { labels: podLabelsFromSandbox(s.labels) };
        if (this.#podAnnotations) info.annotations = keptAnnotations(s.annotations);
        out.set(s.uid, info);
      }
    } catch (err) {
      if (err instanceof GrpcError && err.code === GrpcStatus.UNIMPLEMENTED) {
        this.#criAvailable = false;
        this.#log?.info("containerd serves no CRI runtime service", { socket: this.socketPath });
      } else {
        throw err;
      }
    }
    return out;
  }

  /** Loads one pod's labels: its CRI sandbox, else its sandbox container in `namespace`. */
  async #loadPod(namespace: string, uid: string): Promise<void> {
    const fromCri = (await this.#criPods({ [POD_UID_LABEL]: uid })).get(uid);
    if (fromCri) {
      this.#pods.set(uid, fromCri);
      return;
    }
    const filter = `labels."${POD_UID_LABEL}"==${
      JSON.stringify(uid)
    },labels."${CONTAINERD_KIND_LABEL}"==sandbox`;
    const [sandbox] = await this.#listContainers(namespace, filter);
    if (sandbox) this.#pods.set(uid, { labels: podLabelsFromSandbox(sandbox.labels) });
  }
}
