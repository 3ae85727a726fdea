/**
 * cgroup id → path and container, for the hierarchy the BPF side reports ids from. Filled at
 * start by walking that hierarchy (containers that predate the agent are known) and kept live
 * from the kernel's cgroup mkdir/rmdir records. A removed cgroup stays for a grace period, so
 * late events of its last processes still resolve. One container may own several ids over time
 * (Garden moves processes between `good/` and `bad/`); each id resolves on its own.
 *
 * @module
 */
import { type ContainerIdentity, parseContainerPath } from "./container.ts";

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

  /** A cgroup was created. */
  onMkdir(id: bigint, path: string): void {
    this.#entries.set(id, { path, container: this.#parse(path) });
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
