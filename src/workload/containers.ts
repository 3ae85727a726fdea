/**
 * The container part of a process's export, per container: one {@link ContainerWorkload} object
 * shared by every process of a container, holding the container's current `extra` object (what
 * the process JSON prints after `auid`).
 *
 * Without workload metadata, `extra` is what the cgroup path says: `pod.container.id` as
 * `<runtime>://<id>`, `pod.uid` when the path carries one, and `docker` (the id's first 31
 * characters, as Tetragon prints it). Once a metadata source knows the container, `extra` becomes
 * Tetragon's full `pod` object (`namespace`, `name`, `uid`, `container{id, name, image{id, name},
 * start_time}`, `pod_labels`, `workload`, `workload_kind`, `pod_annotations`) plus `docker`, and on
 * Cloud Foundry a `cf` object.
 *
 * A process points at its container ({@link ProcessInfo.container}, read back with
 * {@link workloadOf}); the process JSON is cached in `ProcessInfo.json`. {@link WorkloadTracker.sync} brings a process up to date at emit time: the
 * container looks its metadata up again only when the tracker's epoch moved (a metadata refresh
 * finished, or the periodic check ticked), and a new `extra` object is made only when the
 * metadata's content changed, so the usual cost per event is two comparisons. That is how
 * metadata that arrives late reaches every process of the container, forked workers that never
 * exec included.
 *
 * Each field has one writer: a container changes only through {@link ContainerWorkload.lookUp},
 * called by the tracker. What the event gate needs per container (its queue, when it last asked
 * for a refresh, whether it gave up) is the gate's own state, kept by the gate.
 *
 * @module
 */
import type { CgroupEntry, CgroupRegistry } from "../cgroup/registry.ts";
import { type ContainerIdentity, containerUri } from "../cgroup/container.ts";
import type {
  ContainerMetadata,
  ContainerRef,
  PodMetadata,
  WorkloadMetadata,
} from "../metadata/types.ts";
import type { ProcessContainer, ProcessExtra, ProcessInfo } from "../process/types.ts";

const DOCKER_ID_CHARS = 31;

/** What the tracker needs of the metadata registry: synchronous, cached lookups. */
export interface MetadataLookup {
  lookup(ref: ContainerRef): WorkloadMetadata | undefined;
}

/** One container, shared by all its processes; it changes only through {@link lookUp}. */
export class ContainerWorkload implements ProcessContainer {
  /** `<runtime>://<id>` from the cgroup path. */
  readonly key: string;
  readonly identity: ContainerIdentity;
  /** The metadata lookup key. */
  readonly ref: ContainerRef;
  #extra: ProcessExtra;
  #metadata: WorkloadMetadata | undefined = undefined;
  #checked = -1;

  constructor(identity: ContainerIdentity) {
    this.identity = identity;
    this.key = containerUri(identity);
    this.ref = { runtime: identity.runtime, id: identity.id, podUid: identity.podUid };
    this.#extra = cgroupExtra(identity);
  }

  /** The current export fields; replaced, never mutated. */
  get extra(): ProcessExtra {
    return this.#extra;
  }

  /** The last metadata found (sticky: kept when the source forgets the container). */
  get metadata(): WorkloadMetadata | undefined {
    return this.#metadata;
  }

  /**
   * Whether a source knew the container (kept even when it forgets it later); until then events
   * about it may wait for its metadata (see `gate.ts`).
   */
  get resolved(): boolean {
    return this.#metadata !== undefined;
  }

  /** Tracker epoch of the last lookup. */
  get checked(): number {
    return this.#checked;
  }

  /**
   * Looks the metadata up again (at tracker epoch `epoch`): a new `extra` object only when the
   * printed content changes. Returns whether the container is resolved.
   */
  lookUp(metadata: MetadataLookup | null, epoch: number): boolean {
    this.#checked = epoch;
    if (metadata === null) return false;
    const md = metadata.lookup(this.ref);
    if (md !== undefined && md !== this.#metadata) {
      this.#metadata = md;
      const extra = workloadExtra(this.identity, md);
      if (!sameJson(extra, this.#extra)) this.#extra = extra;
    }
    return this.#metadata !== undefined;
  }
}

/** The container of a process (its {@link ProcessInfo.container}); undefined for host processes. */
export function workloadOf(p: ProcessInfo | undefined): ContainerWorkload | undefined {
  const c = p?.container;
  return c instanceof ContainerWorkload ? c : undefined;
}

/** Whether two JSON-shaped values print the same (key order included). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i] as string;
    if (k !== kb[i]) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}

/** The fields the cgroup path gives: `pod{uid?, container{id}}` and `docker`. */
export function cgroupExtra(identity: ContainerIdentity): ProcessExtra {
  return {
    pod: {
      ...(identity.podUid ? { uid: identity.podUid } : {}),
      container: { id: containerUri(identity) },
    },
    // Tetragon's `docker` field: the first 31 characters of the container id.
    docker: identity.id.slice(0, DOCKER_ID_CHARS),
  };
}

function nonEmpty(map: Record<string, string> | undefined): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  for (const _ in map) return map;
  return undefined;
}

/** Copies `obj` without its undefined fields (so objects compare by their printed content). */
function defined<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out as T;
}

function containerObject(
  identity: ContainerIdentity,
  c: ContainerMetadata | undefined,
): ContainerMetadata {
  const image = c?.image && (c.image.id || c.image.name)
    ? defined({ id: c.image.id || undefined, name: c.image.name || undefined })
    : undefined;
  return defined({
    // The source's id names the real runtime (a kubepods cgroupfs path only says "containerd").
    id: c?.id || containerUri(identity),
    name: c?.name || undefined,
    image,
    start_time: c?.start_time || undefined,
  });
}

/**
 * The export fields for a container with metadata: Tetragon's `pod` object (field order as
 * Tetragon prints it), `docker`, and `cf` on Cloud Foundry. A container outside Kubernetes keeps
 * the `pod` object with only `container` (as without metadata), now with name and image.
 */
export function workloadExtra(identity: ContainerIdentity, md: WorkloadMetadata): ProcessExtra {
  const p: PodMetadata | undefined = md.pod;
  const pod = defined({
    namespace: p?.namespace || undefined,
    name: p?.name || undefined,
    uid: p?.uid || identity.podUid || undefined,
    container: containerObject(identity, p?.container ?? md.container),
    pod_labels: nonEmpty(p?.pod_labels),
    workload: p?.workload || undefined,
    workload_kind: p?.workload_kind || undefined,
    pod_annotations: nonEmpty(p?.pod_annotations),
  });
  const out: ProcessExtra = { pod, docker: identity.id.slice(0, DOCKER_ID_CHARS) };
  if (md.cf) out.cf = defined({ ...md.cf });
  return out;
}

/** Options of {@link WorkloadTracker}. */
export interface WorkloadTrackerOptions {
  readonly registry: CgroupRegistry;
  /** Workload metadata; null or absent: the cgroup-derived fields only. */
  readonly metadata?: MetadataLookup | null;
  /** Containers kept in the by-id map (processes keep theirs anyway); default 16384. */
  readonly maxContainers?: number;
  /** Whether events wait for `c` (the gate's answer): such containers stay in the map. */
  readonly isWaiting?: (c: ContainerWorkload) => boolean;
}

/** Container of each cgroup id, and the per-container export fields. */
export class WorkloadTracker {
  /** Moves when metadata may have changed; containers look up again when it did. */
  epoch = 0;
  readonly #registry: CgroupRegistry;
  readonly #metadata: MetadataLookup | null;
  readonly #max: number;
  readonly #isWaiting: (c: ContainerWorkload) => boolean;
  /** Per cgroup entry (entries are never reused): its container, or null for host cgroups. */
  readonly #byEntry = new WeakMap<CgroupEntry, ContainerWorkload | null>();
  readonly #byKey = new Map<string, ContainerWorkload>();

  constructor(options: WorkloadTrackerOptions) {
    this.#registry = options.registry;
    this.#metadata = options.metadata ?? null;
    this.#max = options.maxContainers ?? 16384;
    this.#isWaiting = options.isWaiting ?? (() => false);
  }

  /** Whether workload metadata is looked up at all. */
  get hasMetadata(): boolean {
    return this.#metadata !== null;
  }

  /** Containers in the map. */
  get size(): number {
    return this.#byKey.size;
  }

  /**
   * The container of cgroup `cgroupId`: undefined for a host cgroup; `fallback` (a fork's parent's
   * container) when the cgroup is not known to the registry.
   */
  containerOf(cgroupId: bigint, fallback?: ContainerWorkload): ContainerWorkload | undefined {
    const entry = this.#registry.lookup(cgroupId);
    if (entry === undefined) return fallback;
    let c = this.#byEntry.get(entry);
    if (c === undefined) {
      c = entry.container ? this.forIdentity(entry.container) : null;
      this.#byEntry.set(entry, c);
    }
    return c ?? undefined;
  }

  /** The shared object of a container, created on first use. */
  forIdentity(identity: ContainerIdentity): ContainerWorkload {
    const key = containerUri(identity);
    let c = this.#byKey.get(key);
    if (c === undefined) {
      if (this.#byKey.size >= this.#max) this.#trim();
      c = new ContainerWorkload(identity);
      this.#byKey.set(key, c);
    }
    return c;
  }

  /** Metadata may have changed: containers look up again at their next use. */
  bump(): void {
    this.epoch++;
  }

  /** Looks the container's metadata up (now); returns whether it is resolved. */
  update(c: ContainerWorkload): boolean {
    return c.lookUp(this.#metadata, this.epoch);
  }

  /** Brings `p.extra` up to date with its container; clears the cached JSON when it changed. */
  sync(p: ProcessInfo | undefined): void {
    if (p === undefined) return;
    const c = workloadOf(p);
    if (c === undefined) return;
    if (c.checked !== this.epoch) this.update(c);
    if (p.extra !== c.extra) {
      p.extra = c.extra;
      p.json = undefined;
    }
  }

  /** Drops containers that are neither in `live` nor waited for (their processes keep them). */
  sweep(live: ReadonlySet<string>): number {
    let dropped = 0;
    for (const [key, c] of this.#byKey) {
      if (!live.has(key) && !this.#isWaiting(c)) {
        this.#byKey.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** Every container in the map. */
  containers(): IterableIterator<ContainerWorkload> {
    return this.#byKey.values();
  }

  /** Drops the oldest quarter of the map (entries with waiting events stay). */
  #trim(): void {
    let n = Math.ceil(this.#max / 4);
    for (const [key, c] of this.#byKey) {
      if (n-- <= 0) break;
      if (!this.#isWaiting(c)) this.#byKey.delete(key);
    }
  }
}

/** The container id of a process, for stream filters; undefined for host processes. */
export function containerIdOf(p: ProcessInfo | undefined): string | undefined {
  return workloadOf(p)?.identity.id;
}
