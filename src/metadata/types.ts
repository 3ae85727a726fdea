/**
 * Workload metadata: Tetragon's `pod` object and a Cloud Foundry `cf` object, and the interface
 * every metadata source (containerd/CRI, Docker, Garden, Kubernetes API) implements.
 *
 * A source answers {@link MetadataSource.lookup} synchronously from its own cache, so the event
 * path never waits on a socket; {@link MetadataSource.refresh} (one container, e.g. on cgroup
 * mkdir) and {@link MetadataSource.resync} (everything, periodically) fill that cache. Neither
 * ever rejects: a source that is down or slow records the failure in its {@link SourceHealth}.
 *
 * @module
 */
import type { ContainerRuntime } from "../cgroup/container.ts";

/** The container part of Tetragon's `pod` object. */
export interface ContainerMetadata {
  /** `<runtime>://<id>`, e.g. `containerd://3f2a…`. */
  id: string;
  /** Container name (`io.kubernetes.container.name`, Docker name without `/`). */
  name?: string;
  image?: {
    /** Image id: a digest (`sha256:…`) or `<repo>@sha256:…`. */
    id?: string;
    /** Image reference as the runtime knows it, e.g. `docker.io/library/nginx:1.27`. */
    name?: string;
  };
  /** When the container started (RFC 3339). */
  start_time?: string;
  /**
   * Pid in the container's pid namespace. Process-specific, so sources leave it unset; the
   * event pipeline fills it per process.
   */
  pid?: number;
}

/** Tetragon's `pod` object (JSON field names as exported). */
export interface PodMetadata {
  namespace?: string;
  name?: string;
  uid?: string;
  container?: ContainerMetadata;
  pod_labels?: Record<string, string>;
  /** Pod annotations; only filled when a source is asked to keep them. */
  pod_annotations?: Record<string, string>;
  /** Controller name: Deployment (from its ReplicaSet), StatefulSet, DaemonSet, Job, CronJob, or the pod. */
  workload?: string;
  /** `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Job`, `CronJob`, `Pod`, … */
  workload_kind?: string;
}

/** What a Cloud Foundry container runs. */
export type CfWorkload = "app" | "task" | "staging";

/** Cloud Foundry metadata of a Garden container. */
export interface CfMetadata {
  app_guid?: string;
  app_name?: string;
  space?: string;
  space_guid?: string;
  org?: string;
  org_guid?: string;
  instance_index?: number;
  /** The instance GUID (LRP) or task GUID: the Garden handle. */
  instance_guid?: string;
  process_type?: string;
  workload?: CfWorkload;
}

/** Everything known about the workload of one container. */
export interface WorkloadMetadata {
  /** Kubernetes: Tetragon's `pod` object (its `container` describes this container). */
  pod?: PodMetadata;
  /** Cloud Foundry (Garden). */
  cf?: CfMetadata;
  /**
   * The container outside Kubernetes (plain Docker, `ctr`, nerdctl, Garden), which Tetragon's
   * format has no field for; unset when `pod.container` is set.
   */
  container?: ContainerMetadata;
}

/**
 * A container as identified from its cgroup path (see `parseContainerPath`): the runtime is a
 * hint (kubepods cgroupfs paths say "containerd" whatever the runtime), so sources match on
 * `id`; `podUid` lets pod-level sources answer before the container id is known to them.
 */
export interface ContainerRef {
  runtime: ContainerRuntime;
  id: string;
  podUid?: string | null;
}

/** Health of one source. */
export type SourceState = "up" | "down" | "disabled";

/** Health snapshot, for `/status` and metrics. */
export interface SourceHealth {
  state: SourceState;
  /** Last failure, kept until the next success. */
  lastError?: string;
  /** Wall-clock ms (Date.now()) of the last successful full sync. */
  lastSyncMs?: number;
  /** Containers (or pods) cached now. */
  entries?: number;
  /** Failed single-container refreshes since start. */
  refreshErrors?: number;
}

/** A metadata source. Implementations never throw from any method. */
export interface MetadataSource {
  /** Short name: `containerd`, `cri`, `docker`, `garden`, `kubernetes`. */
  readonly name: string;
  health(): SourceHealth;
  /** Cached metadata of the container, or undefined. Synchronous, O(1). */
  lookup(ref: ContainerRef): WorkloadMetadata | undefined;
  /** Fetches one container now (e.g. on cgroup mkdir); resolves when done or failed. */
  refresh(ref: ContainerRef): Promise<void>;
  /**
   * For runtimes whose containers may sit in cgroups named after them (`ctr run --cgroup`):
   * the runtime when a container with exactly this id is cached. Synchronous, O(1).
   */
  runtimeOf?(id: string): ContainerRuntime | undefined;
  /** Full sync of every container; resolves when done or failed. */
  resync(): Promise<void>;
  /** Stops timers, watches and connections. Idempotent. */
  close(): Promise<void>;
}
