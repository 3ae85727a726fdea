/**
 * The Kubernetes API as a metadata source: list and watch the pods of this node
 * (`GET /api/v1/pods?fieldSelector=spec.nodeName=<node>`, then `watch=1` from the list's
 * `resourceVersion`), indexed by container id (from `status.*containerStatuses[].containerID`)
 * and by pod UID. Gives namespace, name, UID, labels, container name, image and start time, and
 * the workload from the controller owner reference: a ReplicaSet with the pod's
 * `pod-template-hash` suffix → its Deployment; a Job named `<cronjob>-<scheduled minutes>` → its
 * CronJob; StatefulSet, DaemonSet, Job, others as they are; no owner → the pod itself (`Pod`).
 *
 * Watch semantics: events are JSON lines `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR,
 * "object": …}`; a watch that ends (server timeout) is resumed from the last resourceVersion; a
 * `410 Gone` (HTTP status or an ERROR event with a `Status` of code 410) means that version is
 * too old: the source lists again. Failures back off and mark the source down; lookups keep
 * answering from the cache.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { MetadataCache, type MetadataCacheOptions } from "./cache.ts";
import { Backoff, errorText, HealthTracker } from "./health.ts";
import { HttpStatusError } from "./http.ts";
import {
  authorizationFor,
  defaultKubeconfigPath,
  httpClientFor,
  inClusterConnection,
  kubeconfigConnection,
  type KubeConnection,
} from "./kubeconfig.ts";
import { keptAnnotations } from "./labels.ts";
import type {
  ContainerMetadata,
  ContainerRef,
  MetadataSource,
  PodMetadata,
  SourceHealth,
  WorkloadMetadata,
} from "./types.ts";

/** The fields of a Pod object that are read. */
export interface KubePod {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
  };
  spec?: { nodeName?: string };
  status?: {
    containerStatuses?: KubeContainerStatus[];
    initContainerStatuses?: KubeContainerStatus[];
    ephemeralContainerStatuses?: KubeContainerStatus[];
  };
}

interface KubeContainerStatus {
  name?: string;
  containerID?: string;
  image?: string;
  imageID?: string;
  state?: {
    running?: { startedAt?: string };
    terminated?: { startedAt?: string };
  };
}

interface KubeList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubePod[];
}

interface WatchEvent {
  type?: string;
  object?: KubePod & { kind?: string; code?: number; reason?: string; message?: string };
}

/** Options of {@link KubernetesSource}. */
export interface KubernetesSourceOptions {
  /**
   * `"auto"` (default): in-cluster settings, else the kubeconfig when it exists, else disabled;
   * `true`: the same, and a missing configuration is `down`; `false`: never used.
   */
  enabled?: boolean | "auto";
  /** Explicit connection settings (overrides in-cluster and kubeconfig). */
  connection?: KubeConnection;
  /** Kubeconfig path; default `$KUBECONFIG` or `~/.kube/config` (only when not in a pod). */
  kubeconfig?: string;
  /** Kubeconfig context; default the current one. */
  context?: string;
  /** This node's name; default `$NODE_NAME`, else the hostname. */
  nodeName?: string;
  /** Deadline of a list page; default 10 s. */
  timeoutMs?: number;
  /** Pods per list page; default 500. */
  pageSize?: number;
  /** Server-side watch duration before it is renewed; default 300 s. */
  watchTimeoutSeconds?: number;
  /** A watch that sends nothing (not even a bookmark) for this long is restarted; default 600 s. */
  watchIdleMs?: number;
  /** Keep pod annotations; default false. */
  podAnnotations?: boolean;
  /** Backoff after failures; defaults 500 ms … 30 s. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  cache?: MetadataCacheOptions;
  logger?: Logger;
}

/** A Gone error (resourceVersion too old). */
class GoneError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = "GoneError";
  }
}

/** Workload and kind of a pod from its controller reference (exported for tests). */
export function workloadOf(pod: KubePod): { workload?: string; workload_kind?: string } {
  const meta = pod.metadata ?? {};
  const owner = meta.ownerReferences?.find((o) => o.controller) ?? meta.ownerReferences?.[0];
  if (!owner?.kind || !owner.name) {
    return meta.name ? { workload: meta.name, workload_kind: "Pod" } : {};
  }
  if (owner.kind === "ReplicaSet") {
    const hash = meta.labels?.["pod-template-hash"];
    if (hash && owner.name.endsWith(`-${hash}`)) {
      return { workload: owner.name.slice(0, -hash.length - 1), workload_kind: "Deployment" };
    }
    return { workload: owner.name, workload_kind: "ReplicaSet" };
  }
  if (owner.kind === "Job") {
    // CronJob's controller names its Jobs <cronjob>-<scheduled time in minutes since epoch>.
    const m = /^(.+)-(\d{8,})$/.exec(owner.name);
    if (m?.[1]) return { workload: m[1], workload_kind: "CronJob" };
  }
  return { workload: owner.name, workload_kind: owner.kind };
}

/** Strips `<runtime>://` from a status containerID. */
function bareId(containerID: string | undefined): string | undefined {
  if (!containerID) return undefined;
  const i = containerID.indexOf("://");
  return i >= 0 ? containerID.slice(i + 3) : containerID;
}

/** Pod-level metadata and per-container metadata of a pod (exported for tests). */
export function podMetadata(
  pod: KubePod,
  podAnnotations = false,
): { pod: PodMetadata; containers: Map<string, WorkloadMetadata> } {
  const meta = pod.metadata ?? {};
  const base: PodMetadata = {};
  if (meta.namespace) base.namespace = meta.namespace;
  if (meta.name) base.name = meta.name;
  if (meta.uid) base.uid = meta.uid;
  base.pod_labels = { ...(meta.labels ?? {}) };
  if (podAnnotations) base.pod_annotations = keptAnnotations(meta.annotations ?? {});
  Object.assign(base, workloadOf(pod));
  const containers = new Map<string, WorkloadMetadata>();
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  for (const s of statuses) {
    const id = bareId(s.containerID);
    if (!id || !s.containerID) continue;
    const c: ContainerMetadata = { id: s.containerID };
    if (s.name) c.name = s.name;
    if (s.image || s.imageID) {
      c.image = {};
      if (s.imageID) c.image.id = s.imageID;
      if (s.image) c.image.name = s.image;
    }
    const started = s.state?.running?.startedAt ?? s.state?.terminated?.startedAt;
    if (started) c.start_time = started;
    containers.set(id, { pod: { ...base, container: c } });
  }
  return { pod: base, containers };
}

/** Pod metadata from the Kubernetes API, for the pods of one node. */
export class KubernetesSource implements MetadataSource {
  readonly name = "kubernetes";
  readonly nodeName: string;
  readonly #mode: boolean | "auto";
  readonly #options: KubernetesSourceOptions;
  readonly #timeoutMs: number;
  readonly #pageSize: number;
  readonly #watchSeconds: number;
  readonly #watchIdleMs: number;
  readonly #podAnnotations: boolean;
  /** Container id → metadata. */
  readonly #containers: MetadataCache<WorkloadMetadata>;
  /** Pod UID → pod-level metadata (no container), and the container ids last seen in it. */
  readonly #pods: MetadataCache<{ md: WorkloadMetadata; ids: string[] }>;
  readonly #health: HealthTracker;
  readonly #backoff: Backoff;
  readonly #log: Logger | undefined;
  #conn: KubeConnection | undefined;
  #client: Deno.HttpClient | undefined;
  #resourceVersion = "";
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #wake: (() => void) | undefined;
  #closed = false;
  /** Lists done (initial, periodic, after 410): for tests and metrics. */
  lists = 0;

  constructor(options: KubernetesSourceOptions = {}) {
    this.#options = options;
    this.#mode = options.enabled ?? "auto";
    this.nodeName = options.nodeName ?? Deno.env.get("NODE_NAME") ?? Deno.hostname();
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#pageSize = options.pageSize ?? 500;
    this.#watchSeconds = options.watchTimeoutSeconds ?? 300;
    this.#watchIdleMs = options.watchIdleMs ?? 600_000;
    this.#podAnnotations = options.podAnnotations ?? false;
    this.#containers = new MetadataCache(options.cache);
    this.#pods = new MetadataCache(options.cache);
    this.#log = options.logger;
    this.#backoff = new Backoff(options.backoffMinMs ?? 500, options.backoffMaxMs ?? 30_000);
    this.#health = new HealthTracker(this.#mode === false ? "disabled" : "down", {
      backoffMinMs: options.backoffMinMs,
      backoffMaxMs: options.backoffMaxMs,
    });
    if (this.#mode !== false) void this.#configure();
  }

  /**
   * Finds connection settings; false (and disabled or down) when there are none. Runs to its end
   * synchronously unless it has to read a kubeconfig (the constructor relies on that).
   */
  async #configure(): Promise<boolean> {
    if (this.#conn) return true;
    try {
      const o = this.#options;
      let conn = o.connection ?? (o.kubeconfig ? undefined : inClusterConnection());
      if (!conn) {
        const path = o.kubeconfig ?? defaultKubeconfigPath();
        let exists = false;
        try {
          exists = path !== undefined && Deno.statSync(path).isFile;
        } catch {
          exists = false;
        }
        if (path && (exists || o.kubeconfig)) conn = await kubeconfigConnection(path, o.context);
      }
      if (!conn) {
        const why = "no in-cluster service account and no kubeconfig";
        if (this.#mode === "auto") this.#health.disable(why);
        else this.#health.fail(why);
        return false;
      }
      this.#conn = conn;
      this.#health.enable();
      return true;
    } catch (err) {
      this.#health.fail(err);
      return false;
    }
  }

  health(): SourceHealth {
    return this.#health.snapshot(this.#containers.size);
  }

  lookup(ref: ContainerRef): WorkloadMetadata | undefined {
    const hit = this.#containers.get(ref.id);
    if (hit !== undefined || !ref.podUid) return hit;
    // The container is not in the pod's status yet: answer with the pod.
    return this.#pods.get(ref.podUid)?.md;
  }

  /** The watch keeps the cache current; a refresh only makes sure the loop runs. */
  refresh(_ref: ContainerRef): Promise<void> {
    this.#ensureLoop();
    return Promise.resolve();
  }

  /**
   * Starts the list+watch loop when it is not running and waits for its first list; when it
   * runs, re-lists only if the source is down (the watch keeps the cache current).
   */
  async resync(): Promise<void> {
    if (this.#closed || this.#mode === false) return;
    if (!this.#loop) {
      const firstList = new Promise<void>((resolve) => (this.#afterList = resolve));
      this.#ensureLoop();
      await Promise.race([firstList, this.#loop]);
      return;
    }
    if (this.#health.state !== "up") this.#wake?.();
  }

  #afterList: (() => void) | undefined;

  #ensureLoop(): void {
    if (this.#loop || this.#closed || this.#mode === false) return;
    this.#loop = this.#run().finally(() => (this.#loop = undefined));
  }

  #http(): Deno.HttpClient {
    this.#client ??= httpClientFor(this.#conn as KubeConnection);
    return this.#client;
  }

  #headers(accept = "application/json"): Record<string, string> {
    const h: Record<string, string> = { accept };
    const auth = authorizationFor(this.#conn as KubeConnection);
    if (auth) h.authorization = auth;
    return h;
  }

  #podsUrl(params: Record<string, string>): string {
    const q = new URLSearchParams({ fieldSelector: `spec.nodeName=${this.nodeName}`, ...params });
    return `${(this.#conn as KubeConnection).server}/api/v1/pods?${q}`;
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        if (!(await this.#configure())) {
          throw new Error(this.#health.snapshot().lastError ?? "no configuration");
        }
        if (!this.#resourceVersion) await this.#list();
        await this.#watch();
      } catch (err) {
        if (this.#closed) break;
        if (err instanceof GoneError) {
          this.#log?.info("kubernetes watch expired; listing again", { error: err.message });
          this.#resourceVersion = "";
          continue;
        }
        this.#fail(err);
        this.#afterList?.();
        this.#afterList = undefined;
        await this.#sleep(this.#backoff.next());
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#abort.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#wake = done;
      signal.addEventListener("abort", done, { once: true });
    });
  }

  #fail(err: unknown): void {
    const was = this.#health.state;
    this.#health.fail(err);
    this.#resourceVersion = "";
    this.#client?.close();
    this.#client = undefined;
    if (was === "up") {
      this.#log?.warn("metadata source down", { source: this.name, error: errorText(err) });
    }
  }

  async #list(): Promise<void> {
    const seenPods = new Set<string>();
    const seenContainers = new Set<string>();
    let cont = "";
    let rv = "";
    do {
      const params: Record<string, string> = { limit: String(this.#pageSize) };
      if (cont) params.continue = cont;
      const url = this.#podsUrl(params);
      const res = await fetch(url, {
        client: this.#http(),
        headers: this.#headers(),
        signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#abort.signal]),
      });
      const text = await res.text();
      if (res.status === 410) {
        // The continue token expired: start the list over.
        cont = "";
        seenPods.clear();
        seenContainers.clear();
        continue;
      }
      if (!res.ok) throw new HttpStatusError(url, res.status, text);
      const list = JSON.parse(text) as KubeList;
      for (const pod of list.items ?? []) {
        const uid = this.#apply(pod);
        if (!uid) continue;
        seenPods.add(uid);
        for (const id of this.#pods.peek(uid)?.ids ?? []) seenContainers.add(id);
      }
      cont = list.metadata?.continue ?? "";
      rv = list.metadata?.resourceVersion ?? rv;
    } while (cont);
    this.#pods.retainOnly(seenPods);
    this.#containers.retainOnly(seenContainers);
    this.#pods.sweep();
    this.#containers.sweep();
    this.#resourceVersion = rv;
    this.lists++;
    this.#health.ok(true);
    this.#backoff.reset();
    this.#afterList?.();
    this.#afterList = undefined;
  }

  /** Stores a pod; returns its UID. */
  #apply(pod: KubePod): string | undefined {
    const uid = pod.metadata?.uid;
    if (!uid) return undefined;
    const { pod: base, containers } = podMetadata(pod, this.#podAnnotations);
    for (const [id, md] of containers) this.#containers.set(id, md);
    const old = this.#pods.peek(uid)?.ids ?? [];
    for (const id of old) if (!containers.has(id)) this.#containers.markDeleted(id);
    this.#pods.set(uid, { md: { pod: base }, ids: [...containers.keys()] });
    return uid;
  }

  #delete(pod: KubePod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    const known = this.#pods.peek(uid)?.ids ?? [];
    const { containers } = podMetadata(pod);
    for (const id of new Set([...known, ...containers.keys()])) this.#containers.markDeleted(id);
    this.#pods.markDeleted(uid);
  }

  async #watch(): Promise<void> {
    const url = this.#podsUrl({
      watch: "1",
      resourceVersion: this.#resourceVersion,
      allowWatchBookmarks: "true",
      timeoutSeconds: String(this.#watchSeconds),
    });
    const watchAbort = new AbortController();
    const connectTimer = setTimeout(
      () => watchAbort.abort(new Error(`watch: no answer within ${this.#timeoutMs} ms`)),
      this.#timeoutMs,
    );
    const res = await fetch(url, {
      client: this.#http(),
      headers: this.#headers(),
      signal: AbortSignal.any([watchAbort.signal, this.#abort.signal]),
    }).finally(() => clearTimeout(connectTimer));
    if (res.status === 410) {
      await res.body?.cancel();
      throw new GoneError(`watch from resourceVersion ${this.#resourceVersion}: HTTP 410`);
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      throw new HttpStatusError(url, res.status, text);
    }
    this.#health.ok();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => watchAbort.abort(new Error("watch idle")), this.#watchIdleMs);
    };
    arm();
    let buf = "";
    try {
      for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
        arm();
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) this.#event(JSON.parse(line) as WatchEvent);
        }
      }
    } finally {
      clearTimeout(idle);
    }
    // The server ended the watch (timeoutSeconds): resume from the last resourceVersion.
  }

  #event(e: WatchEvent): void {
    const obj = e.object;
    switch (e.type) {
      case "ADDED":
      case "MODIFIED":
        if (obj) this.#apply(obj);
        break;
      case "DELETED":
        if (obj) this.#delete(obj);
        break;
      case "BOOKMARK":
        break;
      case "ERROR":
        if (obj?.code === 410) throw new GoneError(obj.message ?? "Gone");
        throw new Error(
          `watch error: ${obj?.code ?? "?"} ${obj?.reason ?? ""} ${obj?.message ?? ""}`,
        );
      default:
        return;
    }
    const rv = obj?.metadata?.resourceVersion;
    if (rv) this.#resourceVersion = rv;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    await this.#loop?.catch(() => {});
    this.#client?.close();
    this.#client = undefined;
  }
}
