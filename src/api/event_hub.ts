/**
 * The event hub: fans export lines out to `GET /events` clients. Each client has its own bounded
 * queue; a client that falls more than its queue behind is dropped (its subscription ends) and
 * counted, so a slow reader never slows the agent. Publishing costs one length check when nobody
 * listens and one filter test plus one array push per subscriber otherwise.
 *
 * @module
 */
import type {
  EventHub,
  EventHubStats,
  EventMeta,
  EventSubscription,
  SubscribeOptions,
} from "./types.ts";

/** Default per-client queue, in lines. */
export const DEFAULT_QUEUE_LINES = 10_000;

/** Options for {@link createEventHub}. */
export interface EventHubOptions {
  /** Default per-client queue when a subscriber does not choose one. */
  readonly queueLines?: number;
  /** Called (outside the publish loop's filter path) when a client is dropped. */
  readonly onDrop?: (info: { readonly queued: number; readonly delivered: number }) => void;
}

function toSet(values: readonly string[] | undefined): ReadonlySet<string> | null {
  const kept = (values ?? []).filter((v) => v !== "");
  return kept.length === 0 ? null : new Set(kept);
}

class Subscription implements EventSubscription {
  readonly #types: ReadonlySet<string> | null;
  readonly #policies: ReadonlySet<string> | null;
  readonly #containers: ReadonlySet<string> | null;
  readonly #max: number;
  readonly #detach: (sub: Subscription) => void;
  #queue: string[] = [];
  #waiter: ((batch: string[] | null) => void) | null = null;
  #state: "open" | "closed" | "dropped" = "open";
  delivered = 0;

  constructor(options: SubscribeOptions, max: number, detach: (sub: Subscription) => void) {
    this.#types = toSet(options.types);
    this.#policies = toSet(options.policies);
    this.#containers = toSet(options.containers);
    this.#max = max;
    this.#detach = detach;
  }

  get dropped(): boolean {
    return this.#state === "dropped";
  }

  get closed(): boolean {
    return this.#state !== "open";
  }

  /** Hot path: whether the line is for this client. */
  matches(meta: EventMeta): boolean {
    return (this.#types === null || this.#types.has(meta.type)) &&
      (this.#policies === null ||
        (meta.policy !== undefined && this.#policies.has(meta.policy))) &&
      (this.#containers === null ||
        (meta.container !== undefined && this.#containers.has(meta.container)));
  }

  /** Hot path: queues a line; false when the queue is full (the caller drops the client). */
  offer(line: string): boolean {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      this.delivered++;
      waiter([line]);
      return true;
    }
    if (this.#queue.length >= this.#max) return false;
    this.#queue.push(line);
    this.delivered++;
    return true;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Ends the subscription as dropped or closed; frees the queue and wakes the reader. */
  end(state: "closed" | "dropped"): void {
    if (this.#state !== "open") return;
    this.#state = state;
    this.#queue = [];
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(null);
  }

  nextBatch(): Promise<string[] | null> {
    if (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      return Promise.resolve(batch);
    }
    if (this.#state !== "open") return Promise.resolve(null);
    if (this.#waiter !== null) return Promise.reject(new Error("nextBatch() is already pending"));
    return new Promise((resolve) => this.#waiter = resolve);
  }

  close(): void {
    if (this.#state !== "open") return;
    this.end("closed");
    this.#detach(this);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    try {
      for (;;) {
        const batch = await this.nextBatch();
        if (batch === null) return;
        yield* batch;
      }
    } finally {
      this.close();
    }
  }
}

/**
 * Creates an event hub. The agent calls `publish` for every exported line; the API subscribes one
 * client per `GET /events`.
 *
 * @example
 * ```ts
 * const hub = createEventHub();
 * const sub = hub.subscribe({ types: ["process_exec"] });
 * hub.publish('{"process_exec":{}}', { type: "process_exec" });
 * const batch = await sub.nextBatch(); // ['{"process_exec":{}}']
 * sub.close();
 * ```
 */
export function createEventHub(options: EventHubOptions = {}): EventHub {
  const defaultMax = options.queueLines ?? DEFAULT_QUEUE_LINES;
  // An array, not a Set: the hot path iterates it, and it is rebuilt only on (un)subscribe.
  let subs: Subscription[] = [];
  let dropped = 0;
  let delivered = 0;

  function detach(sub: Subscription): void {
    delivered += sub.delivered;
    sub.delivered = 0;
    subs = subs.filter((s) => s !== sub);
  }

  function drop(sub: Subscription): void {
    const info = { queued: sub.queued, delivered: sub.delivered };
    dropped++;
    sub.end("dropped");
    detach(sub);
    options.onDrop?.(info);
  }

  return {
    publish(line: string, meta: EventMeta): void {
      if (subs.length === 0) return;
      const current = subs;
      for (let i = 0; i < current.length; i++) {
        const sub = current[i]!;
        if (sub.matches(meta) && !sub.offer(line)) drop(sub);
      }
    },
    subscribe(subscribeOptions: SubscribeOptions = {}): EventSubscription {
      const max = subscribeOptions.queueLines ?? defaultMax;
      if (!Number.isInteger(max) || max < 1) {
        throw new RangeError(`event queue must be a positive integer of lines, got ${max}`);
      }
      const sub = new Subscription(subscribeOptions, max, detach);
      subs = [...subs, sub];
      return sub;
    },
    stats(): EventHubStats {
      let live = 0;
      for (const sub of subs) live += sub.delivered;
      return { subscribers: subs.length, dropped, delivered: delivered + live };
    },
  };
}
