/**
 * A bounded LRU cache for container metadata, with a grace period for deleted containers.
 *
 * Entries live in a `Map` in least-recently-used-first order (a hit moves its entry to the end).
 * When the cache is over `maxEntries`, deleted entries (still in their grace period) go first,
 * then the least recently used live ones, so memory is bounded by `maxEntries` whatever the
 * churn. A container that disappears is {@link MetadataCache.markDeleted | marked deleted}, not
 * dropped: lookups keep answering for `graceMs`, so late events of a container that just exited
 * still resolve, and only then does the entry expire.
 *
 * @module
 */

/** Options of {@link MetadataCache}. */
export interface MetadataCacheOptions {
  /** Most entries kept (live and deleted together); default 4096. */
  maxEntries?: number;
  /** How long a deleted container's entry still answers, in ms; default 60 000. */
  graceMs?: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
}

/** Counters of one cache. */
export interface MetadataCacheStats {
  /** Entries now (live + deleted). */
  entries: number;
  /** Of which deleted, in their grace period. */
  deleted: number;
  /** Entries dropped because the cache was full. */
  evictions: number;
  /** Deleted entries dropped after their grace period. */
  expired: number;
}

interface Entry<V> {
  value: V;
  /** When it was marked deleted, or undefined while live. */
  deletedAt: number | undefined;
}

/** How far from the LRU end eviction looks for a deleted entry before evicting a live one. */
const EVICTION_SCAN = 32;

/** Bounded LRU map from a string key (a container id) to `V`. */
export class MetadataCache<V> {
  readonly maxEntries: number;
  readonly graceMs: number;
  readonly #now: () => number;
  readonly #map = new Map<string, Entry<V>>();
  #deleted = 0;
  #evictions = 0;
  #expired = 0;

  constructor(options: MetadataCacheOptions = {}) {
    this.maxEntries = Math.max(1, Math.floor(options.maxEntries ?? 4096));
    this.graceMs = Math.max(0, options.graceMs ?? 60_000);
    this.#now = options.now ?? Date.now;
  }

  /** Entries now, live and deleted. */
  get size(): number {
    return this.#map.size;
  }

  /** The value of `key` (marking it recently used), or undefined when absent or expired. */
  get(key: string): V | undefined {
    const entry = this.#map.get(key);
    if (entry === undefined) return undefined;
    if (entry.deletedAt !== undefined && this.#now() - entry.deletedAt >= this.graceMs) {
      this.#remove(key, entry);
      this.#expired++;
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, entry);
    return entry.value;
  }

  /** The value of `key` without touching recency or expiry. */
  peek(key: string): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** Whether `key` is present and live (not marked deleted). */
  isLive(key: string): boolean {
    const entry = this.#map.get(key);
    return entry !== undefined && entry.deletedAt === undefined;
  }

  /** Stores `value` as live (a deleted entry comes back to life) and marks it recently used. */
  set(key: string, value: V): void {
    const old = this.#map.get(key);
    if (old !== undefined) {
      if (old.deletedAt !== undefined) this.#deleted--;
      this.#map.delete(key);
    }
    this.#map.set(key, { value, deletedAt: undefined });
    while (this.#map.size > this.maxEntries) this.#evictOne();
  }

  /** Starts the grace period of `key`; no-op when absent or already deleted. */
  markDeleted(key: string): void {
    const entry = this.#map.get(key);
    if (entry === undefined || entry.deletedAt !== undefined) return;
    entry.deletedAt = this.#now();
    this.#deleted++;
  }

  /** Marks deleted every live entry whose key is not in `live` (after a full sync). */
  retainOnly(live: ReadonlySet<string>): void {
    const now = this.#now();
    for (const [key, entry] of this.#map) {
      if (entry.deletedAt === undefined && !live.has(key)) {
        entry.deletedAt = now;
        this.#deleted++;
      }
    }
  }

  /** Drops deleted entries whose grace period is over; returns how many. */
  sweep(): number {
    const now = this.#now();
    let n = 0;
    for (const [key, entry] of this.#map) {
      if (entry.deletedAt !== undefined && now - entry.deletedAt >= this.graceMs) {
        this.#remove(key, entry);
        n++;
      }
    }
    this.#expired += n;
    return n;
  }

  /** Removes `key` at once (no grace). */
  delete(key: string): void {
    const entry = this.#map.get(key);
    if (entry !== undefined) this.#remove(key, entry);
  }

  /** Removes everything. */
  clear(): void {
    this.#map.clear();
    this.#deleted = 0;
  }

  /** Live and deleted keys, least recently used first. */
  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  stats(): MetadataCacheStats {
    return {
      entries: this.#map.size,
      deleted: this.#deleted,
      evictions: this.#evictions,
      expired: this.#expired,
    };
  }

  #remove(key: string, entry: Entry<V>): void {
    this.#map.delete(key);
    if (entry.deletedAt !== undefined) this.#deleted--;
  }

  #evictOne(): void {
    let victim: [string, Entry<V>] | undefined;
    if (this.#deleted > 0) {
      let scanned = 0;
      for (const item of this.#map) {
        if (item[1].deletedAt !== undefined) {
          victim = item;
          break;
        }
        if (++scanned >= EVICTION_SCAN) break;
      }
    }
    victim ??= this.#map.entries().next().value;
    if (victim === undefined) return;
    this.#remove(victim[0], victim[1]);
    this.#evictions++;
  }
}
