/**
 * Combines metadata sources: synchronous lookups over every source's cache (first hit wins;
 * later hits only fill fields the earlier ones lack, e.g. containerd's image with the Kubernetes
 * API's workload), refreshes fanned out to every source on container start, a periodic resync,
 * per-source health, and counters for metrics.
 *
 * @module
 */
import type { ContainerRuntime } from "../cgroup/container.ts";
import type { Logger } from "../log/logger.ts";
import { errorText, withTimeout } from "./health.ts";
import type {
  ContainerRef,
  MetadataSource,
  PodMetadata,
  SourceHealth,
  WorkloadMetadata,
} from "./types.ts";

/** Options of {@link MetadataRegistry}. */
export interface MetadataRegistryOptions {
  /** Sources in priority order. */
  sources: MetadataSource[];
  /** Full resync period; default 60 s. 0 disables the timer (call {@link MetadataRegistry.resync}). */
  resyncIntervalMs?: number;
  /** Longest wait for one source's refresh or resync; default 10 s. */
  timeoutMs?: number;
  logger?: Logger;
}

/** The defaults of {@link MetadataRegistryOptions}. */
export const METADATA_DEFAULTS = { resyncIntervalMs: 60_000, timeoutMs: 10_000 } as const;

/** Counters of one source inside the registry. */
export interface SourceCounters {
  /** Lookups this source answered. */
  hits: number;
  /** Refreshes that threw or timed out here, plus the source's own failed refreshes. */
  refreshErrors: number;
}

/** Registry counters, for metrics. */
export interface MetadataCounters {
  lookups: number;
  hits: number;
  misses: number;
  refreshes: number;
  refreshErrors: number;
  resyncs: number;
  perSource: Record<string, SourceCounters>;
}

interface Merged {
  parts: WorkloadMetadata[];
  value: WorkloadMetadata;
}

const MERGE_MEMO_MAX = 8192;

/** Most names {@link MetadataRegistry.learn} asks the runtimes about between two resyncs. */
export const LEARN_MAX_PENDING = 256;

function mergePod(a: PodMetadata, b: PodMetadata): PodMetadata {
  const out: PodMetadata = { ...b, ...a };
  if (a.container && b.container) {
    out.container = { ...b.container, ...a.container };
    if (a.container.image && b.container.image) {
      out.container.image = { ...b.container.image, ...a.container.image };
    }
  }
  return out;
}

/** Merges `b` under `a`: fields of `a` win, `b` fills the gaps. */
export function mergeWorkload(a: WorkloadMetadata, b: WorkloadMetadata): WorkloadMetadata {
  const out: WorkloadMetadata = {};
  if (a.pod && b.pod) out.pod = mergePod(a.pod, b.pod);
  else if (a.pod ?? b.pod) out.pod = a.pod ?? b.pod;
  if (a.cf && b.cf) out.cf = { ...b.cf, ...a.cf };
  else if (a.cf ?? b.cf) out.cf = a.cf ?? b.cf;
  // A pod's container replaces the bare container object.
  if (!out.pod?.container) {
    if (a.container && b.container) out.container = { ...b.container, ...a.container };
    else if (a.container ?? b.container) out.container = a.container ?? b.container;
  }
  return out;
}

/** The metadata sources of the agent, combined. */
export class MetadataRegistry {
  readonly sources: readonly MetadataSource[];
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #counters: MetadataCounters;
  readonly #merged = new Map<string, Merged>();
  readonly #inflight = new Map<string, Promise<void>>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resyncing: Promise<void> | undefined;
  #closed = false;
  /** Names asked of the runtimes by {@link learn} lately (bounded), so each is asked once. */
  readonly #asked = new Set<string>();
  /** Full resyncs completed; moves when the runtimes' id lists may have grown. */
  syncs = 0;

  constructor(options: MetadataRegistryOptions) {
    this.sources = [...options.sources];
    this.#intervalMs = options.resyncIntervalMs ?? METADATA_DEFAULTS.resyncIntervalMs;
    this.#timeoutMs = options.timeoutMs ?? METADATA_DEFAULTS.timeoutMs;
    this.#log = options.logger;
    const perSource: Record<string, SourceCounters> = {};
    for (const s of this.sources) perSource[s.name] = { hits: 0, refreshErrors: 0 };
    this.#counters = {
      lookups: 0,
      hits: 0,
      misses: 0,
      refreshes: 0,
      refreshErrors: 0,
      resyncs: 0,
      perSource,
    };
  }

  /**
   * Metadata of a container from the sources' caches; synchronous and non-blocking. Returns the
   * same object for the same inputs, so callers may cache by identity.
   */
  lookup(ref: ContainerRef): WorkloadMetadata | undefined {
    this.#counters.lookups++;
    let first: WorkloadMetadata | undefined;
    let parts: WorkloadMetadata[] | undefined;
    for (const source of this.sources) {
      let hit: WorkloadMetadata | undefined;
      try {
        hit = source.lookup(ref);
      } catch {
        hit = undefined;
      }
      if (hit === undefined) continue;
      (this.#counters.perSource[source.name] as SourceCounters).hits++;
      if (first === undefined) first = hit;
      else (parts ??= [first]).push(hit);
    }
    if (first === undefined) {
      this.#counters.misses++;
      return undefined;
    }
    this.#counters.hits++;
    if (parts === undefined) return first;
    return this.#merge(ref.id, parts);
  }

  #merge(key: string, parts: WorkloadMetadata[]): WorkloadMetadata {
    const memo = this.#merged.get(key);
    if (memo && memo.parts.length === parts.length && memo.parts.every((p, i) => p === parts[i])) {
      return memo.value;
    }
    let value = parts[0] as WorkloadMetadata;
    for (let i = 1; i < parts.length; i++) {
      value = mergeWorkload(value, parts[i] as WorkloadMetadata);
    }
    if (this.#merged.size >= MERGE_MEMO_MAX) this.#merged.clear();
    this.#merged.set(key, { parts, value });
    return value;
  }

  /**
   * Asks every source to fetch one container (call on cgroup mkdir of a container cgroup).
   * Concurrent refreshes of the same container share one round; never rejects.
   */
  refresh(ref: ContainerRef): Promise<void> {
    const key = `${ref.runtime}://${ref.id}`;
    const running = this.#inflight.get(key);
    if (running) return running;
    this.#counters.refreshes++;
    const round = Promise.all(this.sources.map((s) => this.#guard(s, "refresh", s.refresh(ref))))
      .then(() => {})
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, round);
    return round;
  }

  /** A full resync of every source; concurrent calls share one round; never rejects. */
  resync(): Promise<void> {
    if (this.#resyncing) return this.#resyncing;
    this.#counters.resyncs++;
    this.#resyncing = Promise.all(this.sources.map((s) => this.#guard(s, "resync", s.resync())))
      .then(() => {
        this.syncs++;
        this.#asked.clear();
      })
      .finally(() => (this.#resyncing = undefined));
    return this.#resyncing;
  }

  /** The runtime that reports a container with exactly this id, from the sources' caches. */
  runtimeOf(id: string): ContainerRuntime | undefined {
    for (const source of this.sources) {
      const runtime = source.runtimeOf?.(id);
      if (runtime !== undefined) return runtime;
    }
    return undefined;
  }

  /**
   * Asks the runtimes whether `name` (a cgroup component no path rule recognised) is one of their
   * container ids; resolves true when one now reports it. Each name is asked at most once
   * between resyncs (the resync lists every container anyway), and at most
   * {@link LEARN_MAX_PENDING} names are asked between two resyncs, so a burst of host cgroups
   * costs a bounded number of calls. Never rejects.
   */
  async learn(name: string): Promise<boolean> {
    if (this.runtimeOf(name) !== undefined) return true;
    if (this.#closed || this.#asked.has(name) || this.#asked.size >= LEARN_MAX_PENDING) {
      return false;
    }
    this.#asked.add(name);
    this.#counters.refreshes++;
    const ref: ContainerRef = { runtime: "containerd", id: name, podUid: null };
    await Promise.all(
      this.sources.filter((s) => s.runtimeOf !== undefined)
        .map((s) => this.#guard(s, "refresh", s.refresh(ref))),
    );
    return this.runtimeOf(name) !== undefined;
  }

  async #guard(source: MetadataSource, what: string, p: Promise<void>): Promise<void> {
    try {
      await withTimeout(p, this.#timeoutMs, `${source.name} ${what}`);
    } catch (err) {
      if (what === "refresh") {
        this.#counters.refreshErrors++;
        (this.#counters.perSource[source.name] as SourceCounters).refreshErrors++;
      }
      this.#log?.warn("metadata source failed", {
        source: source.name,
        op: what,
        error: errorText(err),
      });
    }
  }

  /** Runs a first resync now and then every `resyncIntervalMs`. Returns the first round. */
  start(): Promise<void> {
    const first = this.resync();
    if (this.#intervalMs > 0 && this.#timer === undefined) {
      const tick = () => {
        if (this.#closed) return;
        void this.resync().finally(() => {
          if (!this.#closed) this.#timer = setTimeout(tick, this.#intervalMs);
        });
      };
      this.#timer = setTimeout(tick, this.#intervalMs);
    }
    return first;
  }

  /** Health of every source by name. */
  health(): Record<string, SourceHealth> {
    const out: Record<string, SourceHealth> = {};
    for (const s of this.sources) {
      try {
        out[s.name] = s.health();
      } catch (err) {
        out[s.name] = { state: "down", lastError: errorText(err) };
      }
    }
    return out;
  }

  /** A copy of the counters; each source's own failed refreshes are added in. */
  counters(): MetadataCounters {
    const perSource: Record<string, SourceCounters> = {};
    const health = this.health();
    let own = 0;
    for (const [name, c] of Object.entries(this.#counters.perSource)) {
      const fromSource = health[name]?.refreshErrors ?? 0;
      own += fromSource;
      perSource[name] = { hits: c.hits, refreshErrors: c.refreshErrors + fromSource };
    }
    return { ...this.#counters, refreshErrors: this.#counters.refreshErrors + own, perSource };
  }

  /** Stops the timer and closes every source. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.sources.map((s) => s.close().catch(() => {})));
  }
}
