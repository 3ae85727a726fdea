/**
 * The event hub: fans export lines out to `GET /events` clients. Each client has its own queue,
 * bounded in lines and in bytes; a client that falls more than its queue behind is dropped (its
 * subscription ends) and counted, so a slow reader never slows the agent. The hub also bounds the
 * number of clients ({@link StreamLimitError} beyond it) and the bytes queued for all of them
 * together: when a line would pass that total, the client furthest behind is dropped. Memory for
 * streams is therefore at most `maxTotalBytes` whatever the clients do. Publishing costs one
 * length check when nobody listens and one filter test plus one array push per subscriber
 * otherwise.
 *
 * @module
 */
import {
  type EventHub,
  type EventHubStats,
  type EventMeta,
  type EventSubscription,
  StreamLimitError,
  type SubscribeOptions,
} from "./types.ts";

/** Default per-client queue, in lines. */
export const DEFAULT_QUEUE_LINES = 10_000;
/** Default per-client queue, in bytes (UTF-16 units of the queued lines, newlines included). */
export const DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024;
/** Default limit of concurrent stream clients. */
export const DEFAULT_MAX_SUBSCRIBERS = 64;
/** Default limit of bytes queued for all clients together. */
export const DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/** Options for {@link createEventHub}. */
export interface EventHubOptions {
  /** Default per-client queue in lines when a subscriber does not choose one. */
  readonly queueLines?: number;
  /** Default per-client queue in bytes when a subscriber does not choose one. */
  readonly queueBytes?: number;
  /** Concurrent subscribers at most; one more is refused with {@link StreamLimitError}. */
  readonly maxSubscribers?: number;
  /** Bytes queued for all subscribers together at most. */
  readonly maxTotalBytes?: number;
  /** Called (outside the publish loop's filter path) when a client is dropped. */
  readonly onDrop?: (info: { readonly queued: number; readonly delivered: number }) => void;
}

function toSet(values: readonly string[] | undefined): ReadonlySet<string> | null {
  const kept = (values ?? []).filter((v) => v !== "");
  return kept.length === 0 ? null : new Set(kept);
}

/** The hub's side of the subscriptions: where queued bytes are accounted and clients leave. */
interface HubLedger {
  queuedBytes: number;
  detach(sub: Subscription): void;
}

/** The bytes a queued line accounts for: its UTF-16 units and the newline. */
function lineBytes(line: string): number {
  return line.length + 1;
}

class Subscription implements EventSubscription {
  readonly #types: ReadonlySet<string> | null;
  readonly #policies: ReadonlySet<string> | null;
  readonly #containers: ReadonlySet<string> | null;
  readonly #maxLines: number;
  readonly #maxBytes: number;
  readonly #ledger: HubLedger;
  #queue: string[] = [];
  #queueBytes = 0;
  #waiter: ((batch: string[] | null) => void) | null = null;
  #state: "open" | "closed" | "dropped" = "open";
  delivered = 0;

  constructor(options: SubscribeOptions, maxLines: number, maxBytes: number, ledger: HubLedger) {
    this.#types = toSet(options.types);
    this.#policies = toSet(options.policies);
    this.#containers = toSet(options.containers);
    this.#maxLines = maxLines;
    this.#maxBytes = maxBytes;
    this.#ledger = ledger;
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

  /**
   * Hot path: queues a line of `bytes`; false when the queue is full in lines or bytes (the
   * caller drops the client).
   */
  offer(line: string, bytes: number): boolean {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      this.delivered++;
      waiter([line]);
      return true;
    }
    if (this.#queue.length >= this.#maxLines || this.#queueBytes + bytes > this.#maxBytes) {
      return false;
    }
    this.#queue.push(line);
    this.#queueBytes += bytes;
    this.#ledger.queuedBytes += bytes;
    this.delivered++;
    return true;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get queuedBytes(): number {
    return this.#queueBytes;
  }

  /** Ends the subscription as dropped or closed; frees the queue and wakes the reader. */
  end(state: "closed" | "dropped"): void {
    if (this.#state !== "open") return;
    this.#state = state;
    this.#ledger.queuedBytes -= this.#queueBytes;
    this.#queue = [];
    this.#queueBytes = 0;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.(null);
  }

  nextBatch(maxBytes = Infinity): Promise<string[] | null> {
    if (this.#queue.length > 0) return Promise.resolve(this.#take(maxBytes));
    if (this.#state !== "open") return Promise.resolve(null);
    if (this.#waiter !== null) return Promise.reject(new Error("nextBatch() is already pending"));
    return new Promise((resolve) => this.#waiter = resolve);
  }

  /** Takes queued lines from the head, up to `maxBytes` (at least one). */
  #take(maxBytes: number): string[] {
    let batch: string[];
    let bytes: number;
    if (this.#queueBytes <= maxBytes) {
      batch = this.#queue;
      bytes = this.#queueBytes;
      this.#queue = [];
    } else {
      let n = 0;
      bytes = 0;
      while (n < this.#queue.length) {
        const b = lineBytes(this.#queue[n]!);
        if (n > 0 && bytes + b > maxBytes) break;
        bytes += b;
        n++;
      }
      batch = this.#queue.splice(0, n);
    }
    this.#queueBytes -= bytes;
    this.#ledger.queuedBytes -= bytes;
    return batch;
  }

  close(): void {
    if (this.#state !== "open") return;
    this.end("closed");
    this.#ledger.detach(this);
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
  const defaultLines = positive("queueLines", options.queueLines ?? DEFAULT_QUEUE_LINES, "lines");
  const defaultBytes = positive("queueBytes", options.queueBytes ?? DEFAULT_QUEUE_BYTES, "bytes");
  const maxSubscribers = positive(
    "maxSubscribers",
    options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS,
    "clients",
  );
  const maxTotalBytes = positive(
    "maxTotalBytes",
    options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES,
    "bytes",
  );
  // An array, not a Set: the hot path iterates it, and it is rebuilt only on (un)subscribe.
  let subs: Subscription[] = [];
  let dropped = 0;
  let delivered = 0;
  let refused = 0;
  const ledger: HubLedger = {
    queuedBytes: 0,
    detach(sub: Subscription): void {
      delivered += sub.delivered;
      sub.delivered = 0;
      subs = subs.filter((s) => s !== sub);
    },
  };

  function drop(sub: Subscription): void {
    const info = { queued: sub.queued, delivered: sub.delivered };
    dropped++;
    sub.end("dropped");
    ledger.detach(sub);
    options.onDrop?.(info);
  }

  /** Drops the clients furthest behind until `bytes` more fit the total (rare: a linear scan). */
  function makeRoom(bytes: number): void {
    while (ledger.queuedBytes + bytes > maxTotalBytes) {
      let furthest: Subscription | undefined;
      for (const sub of subs) {
        if (sub.queuedBytes > (furthest?.queuedBytes ?? 0)) furthest = sub;
      }
      if (furthest === undefined) return;
      drop(furthest);
    }
  }

  return {
    publish(line: string, meta: EventMeta): void {
      if (subs.length === 0) return;
      const bytes = lineBytes(line);
      const current = subs;
      for (let i = 0; i < current.length; i++) {
        const sub = current[i]!;
        if (sub.closed || !sub.matches(meta)) continue;
        if (ledger.queuedBytes + bytes > maxTotalBytes) {
          makeRoom(bytes);
          if (sub.closed) continue;
        }
        if (!sub.offer(line, bytes)) drop(sub);
      }
    },
    subscribe(subscribeOptions: SubscribeOptions = {}): EventSubscription {
      const lines = positive("event queue", subscribeOptions.queueLines ?? defaultLines, "lines");
      const bytes = positive("event queue", subscribeOptions.queueBytes ?? defaultBytes, "bytes");
      if (subs.length >= maxSubscribers) {
        refused++;
        throw new StreamLimitError(maxSubscribers);
      }
      const sub = new Subscription(subscribeOptions, lines, bytes, ledger);
      subs = [...subs, sub];
      return sub;
    },
    stats(): EventHubStats {
      let live = 0;
      for (const sub of subs) live += sub.delivered;
      return {
        subscribers: subs.length,
        dropped,
        delivered: delivered + live,
        queuedBytes: ledger.queuedBytes,
        refused,
      };
    },
  };
}

function positive(what: string, value: number, unit: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${what} must be a positive integer of ${unit}, got ${value}`);
  }
  return value;
}
