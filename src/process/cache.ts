/**
 * The bounded user-space process cache: process instances keyed by `(pid, ktime)`, reference
 * counted, kept for a grace period after their last reference drops so late and out-of-order events
 * still resolve, and capped with LRU eviction so memory stays flat under any process churn.
 *
 * Reference counting:
 * - +1 for the instance itself at `upsert()` (exec or clone), −1 at its `onExit()`, or when a newer
 *   instance of the same pid (an exec) replaces it;
 * - +1 on the parent instance per child instance, −1 when that child exits or is replaced.
 *
 * At refcnt 0 an entry enters the grace list; the `graceTicks`-th GC pass after that deletes it
 * (default 2 passes of 30 s: 30–60 s of grace). GC passes run only from {@link ProcessCache.tick},
 * which the agent calls from a timer; the cache owns no timers.
 *
 * Lookups are allocation-free: a `Map` from pid to that pid's instances (newest first, usually one)
 * compared by ktime, plus two intrusive doubly-linked lists (live entries in LRU order, grace
 * entries in the order they entered grace).
 *
 * @module
 */
import type { ProcessInfo, ProcessInit } from "./types.ts";

/** Options of {@link ProcessCache}. */
export interface ProcessCacheOptions {
  /** Hard cap on entries (live + grace); default 65536. */
  maxEntries?: number;
  /** Minimum ms between GC passes run by `tick()`; default 30000. */
  gcIntervalMs?: number;
  /** GC passes an unreferenced entry survives; default 2. */
  graceTicks?: number;
}

/** The defaults of {@link ProcessCacheOptions}. */
export const PROCESS_CACHE_DEFAULTS: Required<ProcessCacheOptions> = {
  maxEntries: 65536,
  gcIntervalMs: 30_000,
  graceTicks: 2,
};

/** Counters of a {@link ProcessCache}. */
export interface ProcessCacheStats {
  /** Entries held (live + grace). */
  size: number;
  /** Entries with references. */
  live: number;
  /** Unreferenced entries waiting for deletion. */
  grace: number;
  /** Entries dropped because the cache was full. */
  evictions: number;
  /** Lookups (including parent lookups at upsert and `onExit`) that found nothing. */
  misses: number;
  /** Decrements of a zero refcnt (duplicate exits and other inconsistencies), clamped at 0. */
  refcntUnderflows: number;
}

const LIVE = 0;
const GRACE = 1;
const DETACHED = 2;

class Entry {
  readonly info: ProcessInfo;
  /** Neighbours in the live or grace list (toward head / toward tail). */
  prev: Entry | null = null;
  next: Entry | null = null;
  /** Next older instance with the same pid. */
  pidNext: Entry | null = null;
  /** The parent entry this one holds a reference on, if any. */
  parent: Entry | null = null;
  /** LIVE, GRACE or DETACHED (deleted or evicted). */
  state = LIVE;
  /** The instance's own reference is gone (exited or replaced). */
  ended = false;
  /** GC pass count when the entry entered grace. */
  graceTick = 0;

  constructor(info: ProcessInfo) {
    this.info = info;
  }
}

/** Intrusive doubly-linked list; head = most recent. */
class EntryList {
  head: Entry | null = null;
  tail: Entry | null = null;
  length = 0;

  pushHead(e: Entry): void {
    e.prev = null;
    e.next = this.head;
    if (this.head) this.head.prev = e;
    else this.tail = e;
    this.head = e;
    this.length++;
  }

  remove(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
    this.length--;
  }

  moveToHead(e: Entry): void {
    if (this.head === e) return;
    this.remove(e);
    this.pushHead(e);
  }
}

/**
 * Process instances keyed by `(pid, ktime)`; see the module documentation for the semantics.
 *
 * @example
 * ```ts
 * const cache = new ProcessCache({ maxEntries: 65536 });
 * setInterval(() => cache.tick(Date.now()), cache.gcIntervalMs);
 * cache.upsert({ // on exec / clone
 *   pid: 42, tid: 42, ktime: 5000n, execId: "…", parentPid: 1, parentKtime: 10n,
 *   parentExecId: "…", binary: "/bin/true", arguments: "", cwd: "/", uid: 0, auid: 0,
 *   flags: ["execve"], startTime: "…", cgroupId: 0n,
 * });
 * cache.get(42, 5000n); // per event
 * cache.onExit(42, 5000n, 9000n); // on exit; the entry stays for the grace period
 * ```
 */
export class ProcessCache {
  readonly maxEntries: number;
  readonly gcIntervalMs: number;
  readonly graceTicks: number;
  readonly #timerSlackMs: number;

  #byPid = new Map<number, Entry>();
  #live = new EntryList();
  #grace = new EntryList();
  #passes = 0;
  #lastPassMs: number | undefined;
  #evictions = 0;
  #misses = 0;
  #underflows = 0;

  constructor(options: ProcessCacheOptions = {}) {
    const d = PROCESS_CACHE_DEFAULTS;
    this.maxEntries = positiveInt("maxEntries", options.maxEntries ?? d.maxEntries);
    this.gcIntervalMs = nonNegative("gcIntervalMs", options.gcIntervalMs ?? d.gcIntervalMs);
    this.graceTicks = positiveInt("graceTicks", options.graceTicks ?? d.graceTicks);
    this.#timerSlackMs = Math.min(this.gcIntervalMs / 100, 250);
  }

  /** Entries held (live + grace). */
  get size(): number {
    return this.#live.length + this.#grace.length;
  }
  /** Entries dropped because the cache was full. */
  get evictions(): number {
    return this.#evictions;
  }
  /** Lookups that found nothing (including parent lookups). */
  get misses(): number {
    return this.#misses;
  }
  /** Decrements of a zero refcnt, clamped. */
  get refcntUnderflows(): number {
    return this.#underflows;
  }

  /** A snapshot of the counters. */
  stats(): ProcessCacheStats {
    return {
      size: this.size,
      live: this.#live.length,
      grace: this.#grace.length,
      evictions: this.#evictions,
      misses: this.#misses,
      refcntUnderflows: this.#underflows,
    };
  }

  /**
   * Records an exec or clone. A new `(pid, ktime)` creates a new entry with refcnt 1 and takes a
   * reference on its parent `(parentPid, parentKtime)` when that is known (otherwise a miss is
   * counted and the entry simply has no parent reference). A newer instance of a pid replaces the
   * pid's previous live instance, which drops its own and its parent reference (it keeps its entry
   * while children reference it, then for the grace period). An instance older than the pid's
   * newest one (a clone event arriving after its exec) is stored already replaced.
   *
   * An existing `(pid, ktime)` is updated in place (refcnt kept, cached JSON cleared).
   * Returns the stored record: `info` itself for a new entry.
   */
  upsert(info: ProcessInit): ProcessInfo {
    const head = this.#byPid.get(info.pid);
    let older: Entry | null = head ?? null;
    let newer: Entry | null = null;
    while (older !== null && older.info.ktime > info.ktime) {
      newer = older;
      older = older.pidNext;
    }
    if (older !== null && older.info.ktime === info.ktime) {
      const stored = older.info;
      const { refcnt, exitKtime } = stored;
      Object.assign(stored, info);
      stored.refcnt = refcnt;
      stored.exitKtime = exitKtime;
      stored.json = undefined;
      if (older.state === LIVE) this.#live.moveToHead(older);
      return stored;
    }

    const record = info as ProcessInfo;
    record.refcnt = 1;
    record.json = undefined;
    const entry = new Entry(record);
    entry.pidNext = older;
    if (newer === null) this.#byPid.set(record.pid, entry);
    else newer.pidNext = entry;
    this.#live.pushHead(entry);

    if (record.parentPid !== 0) {
      const parent = this.#find(record.parentPid, record.parentKtime);
      if (parent === null || parent === entry) this.#misses++;
      else {
        entry.parent = parent;
        this.#ref(parent);
      }
    }

    if (newer !== null) this.#end(entry); // superseded before it arrived
    else if (older !== null) this.#end(older); // replaced by this exec

    if (this.size > this.maxEntries) this.#evict(entry);
    return record;
  }

  /** The instance `(pid, ktime)`, live or in grace; counts a miss when absent. */
  get(pid: number, ktime: bigint): ProcessInfo | undefined {
    const e = this.#find(pid, ktime);
    if (e === null) {
      this.#misses++;
      return undefined;
    }
    if (e.state === LIVE) this.#live.moveToHead(e);
    return e.info;
  }

  /** Like {@link get} without counting a miss or touching the LRU order. */
  peek(pid: number, ktime: bigint): ProcessInfo | undefined {
    return this.#find(pid, ktime)?.info;
  }

  /** The newest instance of `pid` that has neither exited nor been replaced; counts a miss otherwise. */
  getByPid(pid: number): ProcessInfo | undefined {
    for (let e = this.#byPid.get(pid) ?? null; e !== null; e = e.pidNext) {
      if (!e.ended) {
        if (e.state === LIVE) this.#live.moveToHead(e);
        return e.info;
      }
    }
    this.#misses++;
    return undefined;
  }

  /**
   * Records the exit of `(pid, ktime)`: sets `exitKtime`, drops the instance's own reference and its
   * reference on the parent. Returns the record (still cached for the grace period, so the exit
   * event can be built after this call), or undefined (and a miss) when unknown. A second exit of
   * the same instance counts a refcnt underflow and changes nothing.
   */
  onExit(pid: number, ktime: bigint, exitTimeNs: bigint): ProcessInfo | undefined {
    const e = this.#find(pid, ktime);
    if (e === null) {
      this.#misses++;
      return undefined;
    }
    if (e.ended) {
      this.#underflows++;
      return e.info;
    }
    e.info.exitKtime = exitTimeNs;
    this.#end(e);
    return e.info;
  }

  /**
   * Runs a GC pass when `gcIntervalMs` passed since the previous one (the first call always runs
   * one): entries that entered grace `graceTicks` passes ago are deleted. Call it from a timer at
   * `gcIntervalMs` or more often; 1% of the interval (at most 250 ms) is forgiven so a timer firing
   * a little early does not skip a pass. Returns the number of entries deleted.
   */
  tick(nowMs: number): number {
    if (
      this.#lastPassMs !== undefined &&
      nowMs - this.#lastPassMs < this.gcIntervalMs - this.#timerSlackMs
    ) return 0;
    this.#lastPassMs = nowMs;
    const pass = ++this.#passes;
    let deleted = 0;
    for (let e = this.#grace.tail; e !== null; e = this.#grace.tail) {
      if (e.graceTick + this.graceTicks > pass) break;
      this.#delete(e);
      deleted++;
    }
    return deleted;
  }

  /** Every cached record (live first, most recently used first; then grace, newest first). */
  *values(): IterableIterator<ProcessInfo> {
    for (let e = this.#live.head; e !== null; e = e.next) yield e.info;
    for (let e = this.#grace.head; e !== null; e = e.next) yield e.info;
  }

  #find(pid: number, ktime: bigint): Entry | null {
    let e = this.#byPid.get(pid) ?? null;
    while (e !== null && e.info.ktime !== ktime) e = e.pidNext;
    return e;
  }

  /** Drops the instance's own reference and its parent reference (exit or replacement). */
  #end(e: Entry): void {
    if (e.ended) return;
    e.ended = true;
    this.#unref(e);
    const parent = e.parent;
    if (parent !== null) {
      e.parent = null;
      this.#unref(parent);
    }
  }

  #ref(e: Entry): void {
    e.info.refcnt++;
    if (e.state === LIVE) this.#live.moveToHead(e);
    else if (e.state === GRACE) {
      this.#grace.remove(e);
      e.state = LIVE;
      this.#live.pushHead(e);
    }
  }

  #unref(e: Entry): void {
    if (e.info.refcnt <= 0) {
      e.info.refcnt = 0;
      this.#underflows++;
      return;
    }
    if (--e.info.refcnt === 0 && e.state === LIVE) {
      this.#live.remove(e);
      e.state = GRACE;
      e.graceTick = this.#passes;
      this.#grace.pushHead(e);
    }
  }

  /** Evicts the oldest grace entry, else the least recently used live entry other than `keep`. */
  #evict(keep: Entry): void {
    let victim = this.#grace.tail;
    if (victim === null) {
      victim = this.#live.tail;
      if (victim === keep) victim = victim.prev;
    }
    if (victim === null) return;
    this.#evictions++;
    this.#delete(victim);
  }

  #delete(e: Entry): void {
    if (e.state === LIVE) this.#live.remove(e);
    else if (e.state === GRACE) this.#grace.remove(e);
    else return;
    e.state = DETACHED;
    const parent = e.parent;
    if (parent !== null) {
      // An evicted live child gives its parent reference back, or the parent would never reach 0.
      e.parent = null;
      this.#unref(parent);
    }
    const pid = e.info.pid;
    const head = this.#byPid.get(pid);
    if (head === e) {
      if (e.pidNext === null) this.#byPid.delete(pid);
      else this.#byPid.set(pid, e.pidNext);
    } else {
      for (let p = head ?? null; p !== null; p = p.pidNext) {
        if (p.pidNext === e) {
          p.pidNext = e.pidNext;
          break;
        }
      }
    }
    e.pidNext = null;
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`ProcessCache: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(value >= 0)) throw new RangeError(`ProcessCache: ${name} must be >= 0, got ${value}`);
  return value;
}
