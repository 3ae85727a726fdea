/**
 * Parking: events about a process in a container whose workload metadata is not known yet wait,
 * per container and in order, until a metadata source knows the container, for at most
 * `retries × retryDelayMs` (default 15 × 2 s, as Tetragon's event cache). Exec, exit and policy
 * events alike, so the events of forked workers that never exec are covered too.
 *
 * Producers hand every event to {@link EventGate.emitOrPark} with its line builder
 * ({@link EventLines}); the gate decides now, later, or flagged, and writes through the sink.
 *
 * Rules (see {@link EventGate}):
 * - Only while at least one metadata source is enabled (up or down; not `disabled`), and only for
 *   processes in a container. Host processes never wait.
 * - Each container has a FIFO of waiting events (its {@link Wait}, the gate's own state). An event of a container
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
import type { EventSink } from "../events/sink.ts";
import type { ProcessInfo } from "../process/types.ts";
import { type ContainerWorkload, workloadOf, type WorkloadTracker } from "./containers.ts";

/** The flag word added to the process objects of an event emitted without its metadata. */
export const NO_METADATA_FLAG = "nometadata";

/**
 * How one kind of event becomes a line, once its process objects are final. One object per kind
 * (made once), so an event that leaves at once costs no closure.
 */
export interface EventLines<T> {
  /** The line of `event`, with the serialized `process` and `parent` objects spliced in. */
  line(event: T, process: string | undefined, parent: string | undefined): string;
  /** A copy of `event` that may outlive the ring slot it was decoded from (it is going to wait). */
  keep(event: T): T;
}

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

/** The defaults of {@link ParkingOptions}. */
export const PARKING_DEFAULTS: Required<ParkingOptions> = {
  retryDelayMs: 2000,
  retries: 15,
  maxEvents: 8192,
  refreshesPerTick: 64,
};

/** Collaborators of an {@link EventGate}. */
export interface EventGateDeps {
  readonly workload: WorkloadTracker;
  /** Where lines leave; flushed after events emitted outside the ring reader's drain. */
  readonly out: EventSink;
  /** Starts a background refresh of one container's metadata. */
  readonly refresh: (c: ContainerWorkload) => void;
  readonly now?: () => number;
}

/** One waiting event. */
interface Parked {
  readonly type: string;
  readonly policy: string | undefined;
  readonly lines: EventLines<unknown>;
  readonly event: unknown;
  readonly process: ProcessInfo | undefined;
  readonly parent: ProcessInfo | undefined;
  readonly reason: ParkReason;
  /** Gate tick when it was parked. */
  readonly tick: number;
  next: Parked | null;
}

/** What the gate keeps per container: its waiting events (oldest first) and its refresh state. */
class Wait {
  head: Parked | null = null;
  tail: Parked | null = null;
  length = 0;
  /** `now()` of the last refresh asked for. */
  lastRefreshMs = 0;
  /** Waited for once, in vain: its events leave at once, flagged, until a source knows it. */
  unresolved = false;

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

  /** Takes the whole queue, oldest first. */
  take(): Parked | null {
    const head = this.head;
    this.head = this.tail = null;
    this.length = 0;
    return head;
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
  readonly #out: EventSink;
  readonly #now: () => number;
  /** Per container; weak, so the state goes with the container (as when it was a field of it). */
  readonly #waits = new WeakMap<ContainerWorkload, Wait>();
  /** Containers with waiting events, in the order their queue was made. */
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
    this.#out = deps.out;
    this.#now = deps.now ?? Date.now;
    const d = PARKING_DEFAULTS;
    this.retryDelayMs = positive("retryDelayMs", options.retryDelayMs ?? d.retryDelayMs);
    this.retries = positive("retries", options.retries ?? d.retries);
    this.maxEvents = positive("maxEvents", options.maxEvents ?? d.maxEvents);
    this.#refreshesPerTick = positive(
      "refreshesPerTick",
      options.refreshesPerTick ?? d.refreshesPerTick,
    );
  }

  /** Whether events may wait now. */
  get active(): boolean {
    return this.#active;
  }

  /** Events waiting now. */
  get parked(): number {
    return this.#parked;
  }

  /** Whether events of `c` are waiting (such a container must stay known). */
  isWaiting(c: ContainerWorkload): boolean {
    return this.#queued.has(c);
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
   * Emits the event now (host process, known container, nothing to wait for), parks it behind
   * its container's queue, or emits it flagged (container given up on). `lines` builds its line
   * once the process objects are final; `lines.keep(event)` is called only when it waits.
   */
  emitOrPark<T>(
    type: string,
    policy: string | undefined,
    lines: EventLines<T>,
    event: T,
    process: ProcessInfo | undefined,
    parent: ProcessInfo | undefined,
  ): void {
    const workload = this.#workload;
    workload.sync(process);
    workload.sync(parent);
    const c = workloadOf(process);
    if (c === undefined) {
      this.#send(type, policy, lines, event, process, parent, false);
      return;
    }
    // sync() above looked the container up again if anything may have changed since.
    const known = !this.#active || c.resolved;
    if (this.#queued.size === 0 && known) {
      this.#send(type, policy, lines, event, process, parent, false);
      return;
    }
    const wait = this.#waits.get(c);
    if (this.#queued.has(c)) {
      // Keep the container's order: the queue goes first, whatever happens to this event.
      if (known) {
        this.#release(c, this.#active ? "resolved" : "no_source");
        this.#send(type, policy, lines, event, process, parent, !this.#active);
        return;
      }
      this.#park(c, type, policy, lines, lines.keep(event), process, parent);
      return;
    }
    if (known) {
      this.#send(type, policy, lines, event, process, parent, false);
      return;
    }
    if (wait?.unresolved) {
      this.#count("gave_up", type, "unresolved");
      this.#send(type, policy, lines, event, process, parent, true);
      this.#maybeRefresh(c, this.retryDelayMs * this.retries);
      return;
    }
    this.#park(c, type, policy, lines, lines.keep(event), process, parent);
    this.#maybeRefresh(c, this.retryDelayMs);
  }

  /**
   * A refresh of `c` finished (or metadata may have changed): emits its queue if the container
   * is known now. Called outside the ring reader's drain, so it flushes the output.
   */
  kick(c: ContainerWorkload): void {
    if (!this.#queued.has(c)) return;
    if (this.#workload.update(c)) {
      this.#release(c, "resolved");
      this.#out.flush();
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
    if (emitted) this.#out.flush();
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
      const wait = this.#wait(c);
      if (!this.#active) {
        this.#release(c, "no_source");
        emitted = true;
      } else if (this.#workload.update(c)) {
        this.#release(c, "resolved");
        emitted = true;
      } else if (wait.head !== null && tick - wait.head.tick >= this.retries) {
        this.#release(c, this.#sourceUp ? "not_found" : "source_down");
        wait.unresolved = true;
        emitted = true;
      } else {
        for (let p = wait.head; p !== null; p = p.next) this.#count("retried", p.type, p.reason);
        if (i % groups === tick % groups) this.refresh(c);
      }
      i++;
    }
    if (emitted) this.#out.flush();
  }

  /** Emits everything waiting (shutdown): with metadata where known now, else flagged. */
  drain(reason: GiveUpReason = "shutdown"): void {
    for (const c of this.#queued) {
      this.#release(c, this.#active && this.#workload.update(c) ? "resolved" : reason);
    }
    this.#out.flush();
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

  /** Asks the sources to fetch `c` now (in the background). */
  refresh(c: ContainerWorkload): void {
    this.#wait(c).lastRefreshMs = this.#now();
    this.#deps.refresh(c);
  }

  #wait(c: ContainerWorkload): Wait {
    let wait = this.#waits.get(c);
    if (wait === undefined) this.#waits.set(c, wait = new Wait());
    return wait;
  }

  #park<T>(
    c: ContainerWorkload,
    type: string,
    policy: string | undefined,
    lines: EventLines<T>,
    event: T,
    process: ProcessInfo | undefined,
    parent: ProcessInfo | undefined,
  ): void {
    const wait = this.#wait(c);
    if (wait.length === 0) this.#queued.add(c);
    const reason: ParkReason = this.#sourceUp ? "not_found" : "source_down";
    wait.push({
      type,
      policy,
      lines: lines as EventLines<unknown>,
      event,
      process,
      parent,
      reason,
      tick: this.#tick,
      next: null,
    });
    this.#parked++;
    this.#count("parked", type, reason);
    if (this.#parked > this.maxEvents) this.#overflow();
    this.#arm();
  }

  /** Emits the oldest waiting container's oldest event, flagged. */
  #overflow(): void {
    for (const c of this.#queued) {
      const wait = this.#wait(c);
      const p = wait.shift();
      if (p === null) return;
      this.#parked--;
      if (wait.length === 0) this.#queued.delete(c);
      this.#count("gave_up", p.type, "overflow");
      this.#sendParked(p, true);
      return;
    }
  }

  /** Emits the whole queue of `c` in order: with metadata (`resolved`) or flagged (a reason). */
  #release(c: ContainerWorkload, how: "resolved" | GiveUpReason): void {
    if (!this.#queued.delete(c)) return;
    const wait = this.#wait(c);
    this.#parked -= wait.length;
    const resolved = how === "resolved";
    for (let p = wait.take(); p !== null; p = p.next) {
      if (resolved) this.#count("resolved", p.type, p.reason);
      else this.#count("gave_up", p.type, how);
      this.#sendParked(p, !resolved);
    }
  }

  #sendParked(p: Parked, flagged: boolean): void {
    this.#send(p.type, p.policy, p.lines, p.event, p.process, p.parent, flagged);
  }

  #send<T>(
    type: string,
    policy: string | undefined,
    lines: EventLines<T>,
    event: T,
    process: ProcessInfo | undefined,
    parent: ProcessInfo | undefined,
    flagged: boolean,
  ): void {
    this.#workload.sync(process);
    this.#workload.sync(parent);
    const p = process === undefined ? undefined : this.#json(process, flagged);
    const q = parent === undefined ? undefined : this.#json(parent, flagged);
    this.#out.emit(type, lines.line(event, p, q), policy, workloadOf(process)?.identity.id);
  }

  /** The process JSON; with the `nometadata` flag when asked and its container is not known. */
  #json(p: ProcessInfo, flagged: boolean): string {
    const base = cachedProcessJson(p);
    if (!flagged) return base;
    const c = workloadOf(p);
    if (c === undefined || c.resolved) return base;
    const memo = this.#flagged.get(p);
    if (memo !== undefined && memo.base === base) return memo.flagged;
    const json = processJson({ ...p, flags: [...p.flags, NO_METADATA_FLAG] });
    this.#flagged.set(p, { base, flagged: json });
    return json;
  }

  #maybeRefresh(c: ContainerWorkload, minIntervalMs: number): void {
    const last = this.#waits.get(c)?.lastRefreshMs ?? 0;
    if (this.#now() - last >= minIntervalMs) this.refresh(c);
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
