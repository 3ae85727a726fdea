/**
 * cgroup id → path and container, for the hierarchy the BPF side reports ids from. Filled at
 * start by walking that hierarchy (containers that predate the agent are known) and kept live
 * from the kernel's cgroup mkdir/rmdir records. A removed cgroup stays for a grace period, so
 * late events of its last processes still resolve. One container may own several ids over time
 * (Garden moves processes between `good/` and `bad/`); each id resolves on its own.
 *
 * @module
 */
import {
  type ContainerIdentity,
  type ContainerRuntime,
  matchRuntimeIds,
  parseContainerPath,
} from "./container.ts";

/** Which runtime, if any, reports a container with this id (from the runtime's own list). */
export type RuntimeIdLookup = (id: string) => ContainerRuntime | undefined;

/** What the registry knows about one cgroup id. */
export interface CgroupEntry {
  readonly path: string;
  /** The outermost container the path belongs to, or null for host cgroups. */
  readonly container: ContainerIdentity | null;
  /** Wall-clock ms of removal; undefined while the cgroup exists. */
  removedAtMs?: number;
}

/** Options of {@link CgroupRegistry}. */
export interface CgroupRegistryOptions {
  /** How long a removed cgroup stays resolvable, in ms. Default 60 s. */
  readonly graceMs?: number;
  /** Path parser (tests may narrow the rules). */
  readonly parse?: (path: string) => ContainerIdentity | null;
}

/** The registry. Single owner: the agent's event loop. */
export class CgroupRegistry {
  readonly #entries = new Map<bigint, CgroupEntry>();
  readonly #graceMs: number;
  readonly #parse: (path: string) => ContainerIdentity | null;
  #runtimeOf: RuntimeIdLookup | undefined;
  /** Lookups of ids never seen (e.g. a cgroup created and used before its mkdir record). */
  misses = 0;

  constructor(options: CgroupRegistryOptions = {}) {
    this.#graceMs = options.graceMs ?? 60_000;
    this.#parse = options.parse ?? ((path) => parseContainerPath(path));
  }

  /** Adds every cgroup of a hierarchy walk (id → path from the hierarchy root). */
  seed(paths: ReadonlyMap<bigint, string>): void {
    for (const [id, path] of paths) this.onMkdir(id, path);
  }

  /**
   * Ids the runtimes report, for cgroups no path rule recognises (a leaf named after the
   * container, as `ctr run --cgroup` makes). Call {@link rematch} when that list grows.
   */
  setRuntimeIds(runtimeOf: RuntimeIdLookup): void {
    this.#runtimeOf = runtimeOf;
  }

  /** A cgroup was created. */
  onMkdir(id: bigint, path: string): void {
    this.#entries.set(id, { path, container: this.#identify(path) });
  }

  /**
   * Looks again at live cgroups without a container (all of them, or `ids`) against the
   * runtimes' ids; a match puts a new entry object in place (callers that cache per entry
   * object, as the workload tracker does, then see it). Returns how many matched.
   */
  rematch(ids?: Iterable<bigint>): number {
    const runtimeOf = this.#runtimeOf;
    if (runtimeOf === undefined) return 0;
    let matched = 0;
    const visit = (id: bigint, entry: CgroupEntry | undefined) => {
      if (entry === undefined || entry.container !== null || entry.removedAtMs !== undefined) {
        return;
      }
      const container = matchRuntimeIds(entry.path, runtimeOf);
      if (container === null) return;
      this.#entries.set(id, { path: entry.path, container });
      matched++;
    };
    if (ids === undefined) { for (const [id, entry] of this.#entries) visit(id, entry); }
    else for (const id of ids) visit(id, this.#entries.get(id));
    return matched;
  }

  /** The entry of `id` without counting a miss (for callers that are not resolving an event). */
  peek(id: bigint): CgroupEntry | undefined {
    return this.#entries.get(id);
  }

  #identify(path: string): ContainerIdentity | null {
    const parsed = this.#parse(path);
    if (parsed !== null || this.#runtimeOf === undefined) return parsed;
    return matchRuntimeIds(path, this.#runtimeOf);
  }

  /** A cgroup was removed: kept for the grace period. */
  onRmdir(id: bigint, nowMs: number): void {
    const entry = this.#entries.get(id);
    if (entry) entry.removedAtMs = nowMs;
  }

  /** The entry of `id`, or undefined (counted as a miss). */
  lookup(id: bigint): CgroupEntry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) this.misses++;
    return entry;
  }

  /** Drops removed cgroups whose grace period is over; returns how many. */
  tick(nowMs: number): number {
    let dropped = 0;
    for (const [id, entry] of this.#entries) {
      if (entry.removedAtMs !== undefined && nowMs - entry.removedAtMs >= this.#graceMs) {
        this.#entries.delete(id);
        dropped++;
      }
    }
    return dropped;
  }

  /** Number of cgroups known (removed ones in grace included). */
  get size(): number {
    return this.#entries.size;
  }

  /** Containers currently known, by `<runtime>://<id>`, for status and tests. */
  containers(): ContainerIdentity[] {
    const seen = new Map<string, ContainerIdentity>();
    for (const entry of this.#entries.values()) {
      const c = entry.container;
      if (c && entry.removedAtMs === undefined) seen.set(`${c.runtime}://${c.id}`, c);
    }
    return [...seen.values()];
  }
}
