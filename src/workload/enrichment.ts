/**
 * Workload enrichment of the agent's events: the per-container export fields
 * ({@link WorkloadTracker}), the metadata sources (`src/metadata/`), and the gate that lets
 * events wait for late metadata ({@link EventGate}), wired together with their timers:
 * - a container's metadata is refreshed in the background when its cgroup appears (cgroup mkdir
 *   record), by the registry's periodic resync, and by the gate's retries;
 * - every `checkIntervalMs` (1 s) the sources' health is read (events wait only while a source
 *   is enabled) and the tracker's epoch moves, so metadata that changed reaches the next event of
 *   every process of the container, and waiting containers that became known are emitted.
 *
 * Nothing here blocks the event loop: lookups read caches, refreshes are awaited only by
 * background callbacks.
 *
 * @module
 */
import { mayBeRuntimeName } from "../cgroup/container.ts";
import type { CgroupRegistry } from "../cgroup/registry.ts";
import type { Logger } from "../log/logger.ts";
import type { MetadataRegistry, SourceHealth } from "../metadata/mod.ts";
import type { MetadataMetricsSnapshot } from "../metrics/vigil_metrics.ts";
import type { EventSink } from "../events/sink.ts";
import { EventGate, type ParkingOptions } from "./gate.ts";
import { type ContainerWorkload, WorkloadTracker } from "./containers.ts";

/** Options of {@link Enrichment}. */
export interface EnrichmentOptions {
  readonly registry: CgroupRegistry;
  /** The metadata sources; null: cgroup-derived fields only, nothing ever waits. */
  readonly metadata: MetadataRegistry | null;
  /** Where event lines leave (flushed after events emitted from timers and refresh callbacks). */
  readonly out: EventSink;
  readonly parking?: ParkingOptions;
  /** Source health and metadata-change check period; default 1000 ms. */
  readonly checkIntervalMs?: number;
  readonly logger?: Logger;
}

/** Enrichment of a running agent. Single owner: the agent's event loop. */
export class Enrichment {
  readonly workload: WorkloadTracker;
  readonly gate: EventGate;
  readonly metadata: MetadataRegistry | null;
  readonly #registry: CgroupRegistry;
  readonly #checkMs: number;
  readonly #log: Logger | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** `metadata.syncs` when unmatched cgroups were last matched against the runtimes' ids. */
  #matchedAtSync = -1;

  constructor(options: EnrichmentOptions) {
    this.#registry = options.registry;
    this.metadata = options.metadata;
    this.#checkMs = options.checkIntervalMs ?? 1000;
    this.#log = options.logger;
    this.workload = new WorkloadTracker({
      registry: options.registry,
      metadata: options.metadata,
      // Containers whose events wait stay known until their queue is gone.
      isWaiting: (c) => this.gate.isWaiting(c),
    });
    this.gate = new EventGate({
      workload: this.workload,
      out: options.out,
      refresh: (c) => this.#refresh(c),
    }, options.parking);
    const metadata = this.metadata;
    if (metadata !== null) options.registry.setRuntimeIds((id) => metadata.runtimeOf(id));
  }

  /** Starts the sources (first resync in the background) and the periodic check. */
  start(): void {
    const metadata = this.metadata;
    if (metadata === null) return;
    this.#updateSources();
    void metadata.start().then(() => this.#changed(), () => {});
    this.#timer = setInterval(() => this.#changed(), this.#checkMs);
  }

  /** A cgroup was created: fetch its container's metadata now, before its first exec. */
  onCgroupMkdir(cgroupId: bigint): void {
    if (this.metadata === null) return;
    const c = this.workload.containerOf(cgroupId);
    if (c !== undefined && !c.resolved) this.gate.refresh(c);
    if (c === undefined) this.#learnLeaf(cgroupId);
  }

  /** No rule knew the cgroup: ask the runtimes whether its leaf is one of their container ids. */
  #learnLeaf(cgroupId: bigint): void {
    const metadata = this.metadata;
    const leaf = this.#registry.peek(cgroupId)?.path.split("/").at(-1) ?? "";
    if (metadata === null || !mayBeRuntimeName(leaf)) return;
    void metadata.learn(leaf).then((known) => {
      if (!known || this.#closed || this.#registry.rematch([cgroupId]) === 0) return;
      this.workload.bump();
      this.gate.recheck();
    });
  }

  /** Forgets containers whose cgroups are gone and that nothing waits for (call from the GC). */
  sweep(): number {
    const live = new Set<string>();
    for (const c of this.#registry.containers()) live.add(`${c.runtime}://${c.id}`);
    return this.workload.sweep(live);
  }

  /** Emits everything still waiting (call after the ring reader's final drain). */
  drain(): void {
    this.gate.drain("shutdown");
  }

  /** Stops the timers and the sources. */
  async close(): Promise<void> {
    this.#closed = true;
    this.gate.close();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.metadata?.close();
  }

  /** For `/status`. */
  status(): object {
    const g = this.gate.stats();
    const metadata = this.metadata;
    return {
      enabled: metadata !== null,
      sources: metadata === null ? {} : metadata.health(),
      waiting: g.active,
      parking: {
        parked: g.parked,
        containers_waiting: g.containers,
        max_events: this.gate.maxEvents,
        retry_delay_ms: this.gate.retryDelayMs,
        retries: this.gate.retries,
      },
      containers: this.workload.size,
      counters: metadata === null ? undefined : metadata.counters(),
      events: g.counts,
    };
  }

  /** For the metrics snapshot. */
  metrics(): MetadataMetricsSnapshot {
    const g = this.gate.stats();
    const metadata = this.metadata;
    if (metadata === null) {
      return { sources: [], parkedNow: g.parked, parking: g.counts };
    }
    const health = metadata.health();
    const counters = metadata.counters();
    return {
      sources: Object.entries(health).map(([source, h]: [string, SourceHealth]) => ({
        source,
        state: h.state,
        entries: h.entries ?? 0,
        refreshErrors: counters.perSource[source]?.refreshErrors ?? 0,
        hits: counters.perSource[source]?.hits ?? 0,
      })),
      lookups: { hits: counters.hits, misses: counters.misses },
      refreshes: counters.refreshes,
      parkedNow: g.parked,
      parking: g.counts,
    };
  }

  #refresh(c: ContainerWorkload): void {
    const metadata = this.metadata;
    if (metadata === null || this.#closed) return;
    metadata.refresh(c.ref).then(() => {
      if (this.#closed) return;
      this.#updateSources();
      this.workload.bump();
      this.gate.kick(c);
    }).catch((err) => this.#log?.warn("metadata refresh failed", { error: String(err) }));
  }

  #updateSources(): void {
    const metadata = this.metadata;
    if (metadata === null) return;
    let enabled = false;
    let up = false;
    for (const h of Object.values(metadata.health())) {
      if (h.state !== "disabled") enabled = true;
      if (h.state === "up") up = true;
    }
    this.gate.setSources(enabled, up);
  }

  /** Sources may have changed: re-read their health, move the epoch, emit what is known now. */
  #changed(): void {
    if (this.#closed) return;
    const syncs = this.metadata?.syncs ?? -1;
    if (syncs !== this.#matchedAtSync) {
      this.#matchedAtSync = syncs;
      this.#registry.rematch();
    }
    this.#updateSources();
    this.workload.bump();
    this.gate.recheck();
  }
}
