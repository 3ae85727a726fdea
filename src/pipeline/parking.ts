/**
 * Parking: events about a process in a container whose workload metadata is not known yet wait,
 * per container and in order, until a metadata source knows the container, for at most
 * `retries × retryDelayMs` (default 15 × 2 s, as Tetragon's event cache). Exec, exit and policy
 * events alike, so the events of forked workers that never exec are covered too.
 *
 * Rules (see {@link EventGate}):
 * - Only while at least one metadata source is enabled (up or down; not `disabled`), and only for
 *   processes in a container. Host processes never wait.
 * - Each container has a FIFO of waiting events ({@link ParkQueue}). An event of a container
 *   with a non-empty queue joins the queue even if the metadata has just arrived, and the queue
 *   is emitted first: events of one container leave in the order they came.
 * - Every `retryDelayMs` a tick looks each waiting container up again (and asks the sources to
 *   refresh it, a bounded number per tick); a refresh that finishes (e.g. the one started by the
 *   container's cgroup mkdir) flushes its queue at once. Found: the queue is emitted with the
 *   metadata (`resolved`). Still missing when its oldest event has waited `retries` ticks: the
 *   queue is emitted without metadata, each process object flagged `nometadata` (`gave_up`), and
 *   the container becomes `unresolved`: its later events are emitted at once, flagged, and it is
 *   refreshed again at most once per wait window, until a source knows it.
 * - Memory is bounded: at most `maxEvents` events wait; one more emits the oldest waiting
 *   container's oldest event, flagged (`gave_up`, reason `overflow`). At shutdown everything
 *   waiting is emitted (reason `shutdown`).
 * - Nothing here waits on a source: lookups are synchronous cache reads, refreshes run in the
 *   background and only their completion is observed.
 *
 * Counters by stage (`parked`, `retried` per event per tick, `resolved`, `gave_up`), event type
 * and reason: `not_found` (a source is up but does not know the container), `source_down` (every
 * enabled source is down), and for `gave_up` also `overflow`, `shutdown`, `unresolved` (emitted
 * at once for a container already given up on) and `no_source` (every source became disabled).
 *
 * @module
 */
import { cachedProcessJson, processJson } from "../events/process_json.ts";
import type { ProcessInfo } from "../process/types.ts";
import type { ContainerWorkload, WorkloadTracker } from "./workload.ts";

/** The flag word added to the process objects of an event emitted without its metadata. */
export const NO_METADATA_FLAG = "nometadata";

/** One event, ready to be serialized once its process objects are final. */
export interface GateEvent {
  /** Export type: `process_exec`, `process_exit`, `process_kprobe`, ... */
  readonly type: string;
  /** The policy that raised it, if any. */
  readonly policy?: string;
  readonly process: ProcessInfo | undefined;
  readonly parent: ProcessInfo | undefined;
  /** Builds the export line from the serialized `process` and `parent` objects. */
  line(process: string | undefined, parent: string | undefined): string;
}

/** Writes one event line out (exporter, event hub, counters). */
export type EmitFn = (
  type: string,
  line: string,
  policy: string | undefined,
  container: string | undefined,
) => void;

/** Why an event waited. */
export type ParkReason = "not_found" | "source_down";
/** Why an event left without metadata. */
export type GiveUpReason = ParkReason | "overflow" | "shutdown" | "unresolved" | "no_source";
/** Counter stages. */
export type ParkStage = "parked" | "retried" | "resolved" | "gave_up";

/** Options of {@link EventGate}. */
export interface ParkingOptions {
  /** Between two lookups of a waiting container, ms; default 2000. */
  readonly retryDelayMs?: number;
  /** Lookups before giving up; default 15. */
  readonly retries?: number;
  /** Events waiting at most, all containers together; default 8192. */
  readonly maxEvents?: number;
  /** Source refreshes asked for per tick at most; default 64. */
  readonly refreshesPerTick?: number;
}

/** Collaborators of an {@link EventGate}. */
export interface EventGateDeps {
  readonly workload: WorkloadTracker;
  readonly emit: EmitFn;
  /** Called after events were emitted outside the ring reader's drain (flushes the exporter). */
  readonly flush: () => void;
  /** Starts a background refresh of one container's metadata. */
  readonly refresh: (c: ContainerWorkload) => void;
  readonly now?: () => number;
}

interface Parked {
  readonly ev: GateEvent;
  readonly reason: ParkReason;
  /** Gate tick when it was parked. */
  readonly tick: number;
  next: Parked | null;
}

/** The waiting events of one container, oldest first. */
export class ParkQueue {
  head: Parked | null = null;
  tail: Parked | null = null;
  length = 0;

  push(p: Parked): void {
    if (this.tail === null) this.head = p;
    else this.tail.next = p;
    this.tail = p;
    this.length++;
  }

  shift(): Parked | null {
    const p = this.head;
    if (p === null) return null;
    this.head = p.next;
    if (this.head === null) this.tail = null;
    p.next = null;
    this.length--;
    return p;
  }
}

/** Counters and current state of the gate. */
export interface GateStats {
  /** Events waiting now. */
  readonly parked: number;
  /** Containers with waiting events. */
  readonly containers: number;
  /** Whether events may wait (a metadata source is enabled). */
  readonly active: boolean;
  readonly counts: readonly { stage: ParkStage; type: string; reason: string; count: number }[];
}

/** Decides per event: emit now, wait for metadata, or emit flagged. Single owner: the event loop. */
export class EventGate {
  readonly retryDelayMs: number;
  readonly retries: number;
  readonly maxEvents: number;
  readonly #refreshesPerTick: number;
  readonly #deps: EventGateDeps;
  readonly #workload: WorkloadTracker;
  readonly #now: () => number;
  /** Containers with a queue, in the order their queue was made. */
  readonly #queued = new Set<ContainerWorkload>();
  readonly #counts = new Map<
    string,
    { stage: ParkStage; type: string; reason: string; n: number }
  >();
  readonly #flagged = new WeakMap<ProcessInfo, { base: string; flagged: string }>();
  #parked = 0;
  #tick = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #active = false;
  #sourceUp = false;
  #closed = false;

  constructor(deps: EventGateDeps, options: ParkingOptions = {}) {
    this.#deps = deps;
    this.#workload = deps.workload;
    this.#now = deps.now ?? Date.now;
    this.retryDelayMs = positive("retryDelayMs", options.retryDelayMs ?? 2000);
    this.retries = positive("retries", options.retries ?? 15);
    this.maxEvents = positive("maxEvents", options.maxEvents ?? 8192);
    this.#refreshesPerTick = positive("refreshesPerTick", options.refreshesPerTick ?? 64);
  }

  /** Whether events may wait now. */
  get active(): boolean {
    return this.#active;
  }

  /** Events waiting now. */
  get parked(): number {
    return this.#parked;
  }

  /**
   * The sources' state (from their health): `enabled` when at least one is not `disabled`, `up`
   * when at least one is `up`. Events wait only while enabled.
   */
  setSources(enabled: boolean, up: boolean): void {
    this.#active = enabled && this.#workload.hasMetadata;
    this.#sourceUp = up;
  }

  /**
   * Brings the process objects up to date and says whether the event can be emitted right now
   * as is (the caller then serializes and emits it itself); otherwise hand it to {@link submit}.
   */
  ready(process: ProcessInfo | undefined, parent: ProcessInfo | undefined): boolean {
    const workload = this.#workload;
    workload.sync(process);
    workload.sync(parent);
    const c = process?.container as ContainerWorkload | undefined;
    if (c === undefined) return true;
    if (c.queue !== null) return false;
    return !this.#active || c.state === "resolved";
  }

  /** Emits, parks or flags an event that {@link ready} refused (or any event). */
  submit(ev: GateEvent): void {
    const workload = this.#workload;
    workload.sync(ev.process);
    workload.sync(ev.parent);
    const c = ev.process?.container as ContainerWorkload | undefined;
    if (c === undefined) {
      this.#emit(ev, false);
      return;
    }
    // sync() above looked the container up again if anything may have changed since.
    if (c.queue !== null) {
      // Keep the container's order: the queue goes first, whatever happens to this event.
      if (!this.#active || c.state === "resolved") {
        this.#release(c, this.#active ? "resolved" : "no_source");
        this.#emit(ev, !this.#active);
        return;
      }
      this.#park(c, ev);
      return;
    }
    if (!this.#active || c.state === "resolved") {
      this.#emit(ev, false);
      return;
    }
    if (c.state === "unresolved") {
      this.#count("gave_up", ev.type, "unresolved");
      this.#emit(ev, true);
      this.#maybeRefresh(c, this.retryDelayMs * this.retries);
      return;
    }
    this.#park(c, ev);
    this.#maybeRefresh(c, this.retryDelayMs);
  }

  /**
   * A refresh of `c` finished (or metadata may have changed): emits its queue if the container
   * is known now. Called outside the ring reader's drain, so it flushes the output.
   */
  kick(c: ContainerWorkload): void {
    if (c.queue === null) return;
    if (this.#workload.update(c)) {
      this.#release(c, "resolved");
      this.#deps.flush();
    }
  }

  /** Looks every waiting container up again (no retry counted); emits the known ones. */
  recheck(): void {
    let emitted = false;
    for (const c of this.#queued) {
      if (!this.#active) {
        this.#release(c, "no_source");
        emitted = true;
      } else if (this.#workload.update(c)) {
        this.#release(c, "resolved");
        emitted = true;
      }
    }
    if (emitted) this.#deps.flush();
  }

  /** One retry round (the timer calls it every `retryDelayMs` while events wait). */
  tick(): void {
    const tick = ++this.#tick;
    this.#workload.bump();
    const n = this.#queued.size;
    // At most refreshesPerTick refreshes: with more waiting containers, each gets its turn.
    const groups = Math.max(1, Math.ceil(n / this.#refreshesPerTick));
    let i = 0;
    let emitted = false;
    for (const c of this.#queued) {
      const q = c.queue as ParkQueue;
      if (!this.#active) {
        this.#release(c, "no_source");
        emitted = true;
      } else if (this.#workload.update(c)) {
        this.#release(c, "resolved");
        emitted = true;
      } else if (tick - (q.head as Parked).tick >= this.retries) {
        this.#release(c, this.#sourceUp ? "not_found" : "source_down");
        c.state = "unresolved";
        emitted = true;
      } else {
        for (let p = q.head; p !== null; p = p.next) this.#count("retried", p.ev.type, p.reason);
        if (i % groups === tick % groups) this.refresh(c);
      }
      i++;
    }
    if (emitted) this.#deps.flush();
  }

  /** Emits everything waiting (shutdown): with metadata where known now, else flagged. */
  drain(reason: GiveUpReason = "shutdown"): void {
    for (const c of this.#queued) {
      this.#release(c, this.#active && this.#workload.update(c) ? "resolved" : reason);
    }
    this.#deps.flush();
  }

  /** Stops the retry timer (waiting events stay; call {@link drain} first). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  stats(): GateStats {
    return {
      parked: this.#parked,
      containers: this.#queued.size,
      active: this.#active,
      counts: [...this.#counts.values()].map((c) => ({
        stage: c.stage,
        type: c.type,
        reason: c.reason,
        count: c.n,
      })),
    };
  }

  #park(c: ContainerWorkload, ev: GateEvent): void {
    let q = c.queue;
    if (q === null) {
      q = c.queue = new ParkQueue();
      this.#queued.add(c);
    }
    const reason: ParkReason = this.#sourceUp ? "not_found" : "source_down";
    q.push({ ev, reason, tick: this.#tick, next: null });
    this.#parked++;
    this.#count("parked", ev.type, reason);
    if (this.#parked > this.maxEvents) this.#overflow();
    this.#arm();
  }

  /** Emits the oldest waiting container's oldest event, flagged. */
  #overflow(): void {
    for (const c of this.#queued) {
      const q = c.queue as ParkQueue;
      const p = q.shift() as Parked;
      this.#parked--;
      if (q.length === 0) {
        c.queue = null;
        this.#queued.delete(c);
      }
      this.#count("gave_up", p.ev.type, "overflow");
      this.#emit(p.ev, true);
      return;
    }
  }

  /** Emits the whole queue of `c` in order: with metadata (`resolved`) or flagged (a reason). */
  #release(c: ContainerWorkload, how: "resolved" | GiveUpReason): void {
    const q = c.queue;
    if (q === null) return;
    c.queue = null;
    this.#queued.delete(c);
    this.#parked -= q.length;
    const resolved = how === "resolved";
    for (let p = q.head; p !== null; p = p.next) {
      if (resolved) this.#count("resolved", p.ev.type, p.reason);
      else this.#count("gave_up", p.ev.type, how);
      this.#emit(p.ev, !resolved);
    }
  }

  #emit(ev: GateEvent, flagged: boolean): void {
    const { process, parent } = ev;
    this.#workload.sync(process);
    this.#workload.sync(parent);
    const p = process === undefined ? undefined : this.#json(process, flagged);
    const q = parent === undefined ? undefined : this.#json(parent, flagged);
    const c = process?.container as ContainerWorkload | undefined;
    this.#deps.emit(ev.type, ev.line(p, q), ev.policy, c?.identity.id);
  }

  /** The process JSON; with the `nometadata` flag when asked and its container is not known. */
  #json(p: ProcessInfo, flagged: boolean): string {
    const base = cachedProcessJson(p);
    const c = p.container as ContainerWorkload | undefined;
    if (!flagged || c === undefined || c.state === "resolved") return base;
    const memo = this.#flagged.get(p);
    if (memo !== undefined && memo.base === base) return memo.flagged;
    const json = processJson({ ...p, flags: [...p.flags, NO_METADATA_FLAG] });
    this.#flagged.set(p, { base, flagged: json });
    return json;
  }

  #maybeRefresh(c: ContainerWorkload, minIntervalMs: number): void {
    if (this.#now() - c.lastRefreshMs >= minIntervalMs) this.refresh(c);
  }

  /** Asks the sources to fetch `c` now (in the background). */
  refresh(c: ContainerWorkload): void {
    c.lastRefreshMs = this.#now();
    this.#deps.refresh(c);
  }

  #count(stage: ParkStage, type: string, reason: string): void {
    const key = `${stage}\0${type}\0${reason}`;
    const c = this.#counts.get(key);
    if (c !== undefined) c.n++;
    else this.#counts.set(key, { stage, type, reason, n: 1 });
  }

  /** Runs {@link tick} every `retryDelayMs` while anything waits. */
  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const run = () => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.tick();
      if (this.#parked > 0) this.#arm();
    };
    this.#timer = setTimeout(run, this.retryDelayMs);
  }
}

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`EventGate: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}
