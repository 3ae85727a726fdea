/**
 * Docker Engine as a metadata source, over its HTTP API on the unix socket:
 * `GET /containers/json` (running containers: id, names, image, labels) for the periodic sync and
 * `GET /containers/{id}/json` (inspect: name, image, labels, start time) per container.
 * Containers that kubelet created through cri-dockerd carry `io.kubernetes.pod.*` labels and
 * become a Tetragon `pod`; the pod's labels come from its sandbox container
 * (`io.kubernetes.docker.type=podsandbox`). Other containers get a top-level `container`.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { MetadataCache, type MetadataCacheOptions } from "./cache.ts";
import { detectSocket, errorText, HealthTracker } from "./health.ts";
import { getJson, HttpStatusError, unixSocketClient } from "./http.ts";
import {
  DOCKER_TYPE_LABEL,
  imageIdOf,
  kubeletIdentity,
  POD_UID_LABEL,
  podLabelsFromSandbox,
} from "./labels.ts";
import type {
  ContainerMetadata,
  ContainerRef,
  MetadataSource,
  SourceHealth,
  WorkloadMetadata,
} from "./types.ts";

/** Docker's default socket. */
export const DOCKER_SOCKET = "/var/run/docker.sock";

/** `GET /containers/json` item (Docker Engine API `ContainerSummary`), the fields used. */
export interface DockerContainerSummary {
  Id: string;
  Names?: string[];
  Image?: string;
  ImageID?: string;
  Labels?: Record<string, string> | null;
  State?: string;
}

/** `GET /containers/{id}/json` (Docker Engine API `ContainerInspectResponse`), the fields used. */
export interface DockerContainerInspect {
  Id: string;
  Name?: string;
  /** Image id (`sha256:…`). */
  Image?: string;
  Created?: string;
  State?: { Running?: boolean; Pid?: number; StartedAt?: string };
  Config?: { Image?: string; Labels?: Record<string, string> | null };
}

/** Options of {@link DockerSource}. */
export interface DockerSourceOptions {
  /** Default {@link DOCKER_SOCKET}. */
  socketPath?: string;
  /** As for containerd: `"auto"` (default), `true`, `false`. */
  enabled?: boolean | "auto";
  /** API version prefix, e.g. `v1.43`; default none (the daemon's own version). */
  apiVersion?: string;
  /** Per-request deadline; default 3000 ms. */
  timeoutMs?: number;
  /** Inspects run at once during a sync; default 4. */
  concurrency?: number;
  cache?: MetadataCacheOptions;
  logger?: Logger;
}

const ZERO_TIME = "0001-01-01T00:00:00Z";

/** Metadata from an inspect response (exported for tests). */
export function dockerMetadata(
  c: DockerContainerInspect,
  podLabels: Record<string, string> | undefined,
): WorkloadMetadata {
  const labels = c.Config?.Labels ?? {};
  const kube = kubeletIdentity(labels);
  const container: ContainerMetadata = { id: `docker://${c.Id}` };
  const name = kube ? kube.containerName : c.Name?.replace(/^\//, "");
  if (name) container.name = name;
  const imageName = c.Config?.Image;
  if (imageName || c.Image) {
    container.image = {};
    if (imageName) container.image.name = imageName;
    const id = imageIdOf(undefined, c.Image);
    if (id) container.image.id = id;
  }
  const started = c.State?.StartedAt;
  if (started && started !== ZERO_TIME) container.start_time = started;
  else if (c.Created) container.start_time = c.Created;
  if (!kube) return { container };
  return {
    pod: {
      ...(kube.namespace ? { namespace: kube.namespace } : {}),
      ...(kube.name ? { name: kube.name } : {}),
      ...(kube.uid ? { uid: kube.uid } : {}),
      container,
      ...(podLabels ? { pod_labels: podLabels } : {}),
    },
  };
}

/** Container metadata from Docker Engine, cached by full container id. */
export class DockerSource implements MetadataSource {
  readonly name = "docker";
  readonly socketPath: string;
  readonly #mode: boolean | "auto";
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #concurrency: number;
  readonly #cache: MetadataCache<WorkloadMetadata>;
  readonly #pods: MetadataCache<Record<string, string>>;
  readonly #health: HealthTracker;
  readonly #log: Logger | undefined;
  #client: Deno.HttpClient | undefined;
  #closed = false;

  constructor(options: DockerSourceOptions = {}) {
    this.socketPath = options.socketPath ?? DOCKER_SOCKET;
    this.#mode = options.enabled ?? "auto";
    this.#base = `http://docker${options.apiVersion ? `/${options.apiVersion}` : ""}`;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#cache = new MetadataCache(options.cache);
    this.#pods = new MetadataCache(options.cache);
    this.#log = options.logger;
    this.#health = new HealthTracker(this.#mode === false ? "disabled" : "down");
    this.#detect();
  }

  /** Applies the `enabled` mode (see `detectSocket`). */
  #detect(): boolean {
    return detectSocket(this.#mode, this.socketPath, this.#health);
  }

  #http(): Deno.HttpClient {
    this.#client ??= unixSocketClient(this.socketPath);
    return this.#client;
  }

  health(): SourceHealth {
    return this.#health.snapshot(this.#cache.size);
  }

  lookup(ref: ContainerRef): WorkloadMetadata | undefined {
    return this.#cache.get(ref.id);
  }

  async #inspect(id: string): Promise<DockerContainerInspect | undefined> {
    try {
      return await getJson<DockerContainerInspect>(
        `${this.#base}/containers/${encodeURIComponent(id)}/json`,
        { client: this.#http(), timeoutMs: this.#timeoutMs },
      );
    } catch (err) {
      if (err instanceof HttpStatusError && err.status === 404) return undefined;
      throw err;
    }
  }

  #podLabelsOf(c: DockerContainerInspect): Record<string, string> | undefined {
    const uid = c.Config?.Labels?.[POD_UID_LABEL];
    return uid ? this.#pods.get(uid) : undefined;
  }

  async refresh(ref: ContainerRef): Promise<void> {
    if (this.#closed || this.#cache.isLive(ref.id) || !this.#detect() || !this.#health.mayTry()) {
      return;
    }
    try {
      const c = await this.#inspect(ref.id);
      if (c) {
        const uid = c.Config?.Labels?.[POD_UID_LABEL];
        if (uid && !this.#pods.isLive(uid)) await this.#loadSandbox(uid);
        this.#cache.set(c.Id, dockerMetadata(c, this.#podLabelsOf(c)));
      }
      this.#health.ok();
    } catch (err) {
      this.#failed(err, "refresh");
    }
  }

  async #loadSandbox(uid: string): Promise<void> {
    const filters = JSON.stringify({
      label: [`${POD_UID_LABEL}=${uid}`, `${DOCKER_TYPE_LABEL}=podsandbox`],
    });
    const list = await getJson<DockerContainerSummary[]>(
      `${this.#base}/containers/json?all=1&filters=${encodeURIComponent(filters)}`,
      { client: this.#http(), timeoutMs: this.#timeoutMs },
    );
    const sandbox = list.find((s) => s.Labels?.[DOCKER_TYPE_LABEL] === "podsandbox");
    if (sandbox?.Labels) this.#pods.set(uid, podLabelsFromSandbox(sandbox.Labels));
  }

  async resync(): Promise<void> {
    if (this.#closed || !this.#detect() || !this.#health.mayTry()) return;
    try {
      const list = await getJson<DockerContainerSummary[]>(`${this.#base}/containers/json`, {
        client: this.#http(),
        timeoutMs: this.#timeoutMs,
      });
      const livePods = new Set<string>();
      for (const s of list) {
        const uid = s.Labels?.[POD_UID_LABEL];
        if (uid && s.Labels?.[DOCKER_TYPE_LABEL] === "podsandbox") {
          this.#pods.set(uid, podLabelsFromSandbox(s.Labels));
          livePods.add(uid);
        }
      }
      this.#pods.retainOnly(livePods);
      const live = new Set(list.map((s) => s.Id));
      // Inspect only containers not cached yet (an inspect per container per sync is wasteful).
      const todo = list.filter((s) => !this.#cache.isLive(s.Id)).map((s) => s.Id);
      for (let i = 0; i < todo.length; i += this.#concurrency) {
        const batch = todo.slice(i, i + this.#concurrency);
        const got = await Promise.all(batch.map((id) => this.#inspect(id)));
        for (const c of got) if (c) this.#cache.set(c.Id, dockerMetadata(c, this.#podLabelsOf(c)));
      }
      this.#cache.retainOnly(live);
      this.#cache.sweep();
      this.#pods.sweep();
      this.#health.ok(true);
    } catch (err) {
      this.#failed(err, "sync");
    }
  }

  #failed(err: unknown, kind: "sync" | "refresh"): void {
    const was = this.#health.state;
    this.#health.fail(err, kind);
    // A dead keep-alive connection must not be reused.
    this.#client?.close();
    this.#client = undefined;
    if (was === "up") {
      this.#log?.warn("metadata source down", { source: this.name, error: errorText(err) });
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#client?.close();
    this.#client = undefined;
    return Promise.resolve();
  }
}
