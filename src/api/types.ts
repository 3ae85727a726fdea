/**
 * The contracts between the HTTP API and the rest of the agent. The API only reads snapshots and
 * calls these interfaces; the agent's composition root supplies the implementations (policy
 * manager, event hub, status, health, BPF program statistics).
 *
 * @module
 */

export type {
  ApplyResult,
  PolicyCounters,
  PolicyError,
  PolicyHookStatus,
  PolicyState,
  PolicyStatus,
  ReloadResult,
} from "../policy/mod.ts";
import type { ApplyResult, PolicyStatus, ReloadResult } from "../policy/mod.ts";
import type { PolicyStats, ShadowResult } from "../policy/manager.ts";
export type { PolicyStats, ShadowResult };

/** The policy manager, as the API sees it. */
export interface PolicyService {
  list(): PolicyStatus[];
  /** The policy's YAML as stored, or undefined when there is no such policy. */
  get(name: string): { name: string; yaml: string } | undefined;
  /**
   * Adds or atomically replaces the policy named by the YAML's `metadata.name` (the new version is
   * attached before the old one is detached). `source` names where the YAML came from, for
   * messages (the API passes `"api"`).
   */
  apply(yaml: string, source: string): Promise<ApplyResult>;
  /** Detaches and forgets a policy; false when there is no such policy. */
  delete(name: string): Promise<boolean>;
  /** Re-reads the policy directory. */
  reload(): Promise<ReloadResult>;
  /** Where policy `name`'s calls stopped, per hook (undefined: no such policy). */
  stats(name: string): PolicyStats | undefined;
  /** Preflight: `yaml` attached with posting and actions off for `seconds`, and what it cost. */
  shadow?(yaml: string, seconds: number): Promise<ShadowResult>;
}

/** What describes an event for the stream filters. */
export interface EventMeta {
  /** The export type, e.g. `process_exec`, `process_kprobe`. */
  readonly type: string;
  /** The policy that produced it, if any. */
  readonly policy?: string;
  /** The container (id or name) it came from, if any. */
  readonly container?: string;
}

/** Filters and limits of one stream client. Empty or absent lists match everything. */
export interface SubscribeOptions {
  readonly types?: readonly string[];
  readonly policies?: readonly string[];
  readonly containers?: readonly string[];
  /** Lines queued for this client before it is dropped (default 10,000). */
  readonly queueLines?: number;
  /** Bytes (UTF-16 units) queued for this client before it is dropped (default 8 MiB). */
  readonly queueBytes?: number;
}

/** One stream client's view of the events. Iterating yields export lines (no newline). */
export interface EventSubscription extends AsyncIterable<string> {
  /**
   * Waits for lines and takes the queued ones, up to `maxBytes` (at least one line; default: all);
   * resolves to null once the subscription is closed or dropped (queued lines are discarded on
   * drop).
   */
  nextBatch(maxBytes?: number): Promise<string[] | null>;
  /** True once the hub dropped this client for falling behind. */
  readonly dropped: boolean;
  readonly closed: boolean;
  /** Ends the subscription (idempotent). */
  close(): void;
}

/** Counters of an {@link EventHub}. */
export interface EventHubStats {
  /** Open subscriptions. */
  readonly subscribers: number;
  /** Subscriptions dropped for falling behind, since start. */
  readonly dropped: number;
  /** Lines queued to subscribers, since start. */
  readonly delivered: number;
  /** Bytes queued for all subscribers now (bounded by the hub's total). */
  readonly queuedBytes: number;
  /** Subscriptions refused because the hub was at its limit of streams, since start. */
  readonly refused: number;
}

/** Thrown by {@link EventHub.subscribe} when the hub already serves its maximum of streams. */
export class StreamLimitError extends Error {
  override name = "StreamLimitError";
  /** The limit that was reached. */
  readonly limit: number;

  constructor(limit: number) {
    super(`too many event streams: the limit is ${limit} concurrent /events clients`);
    this.limit = limit;
  }
}

/** Fans export lines out to stream clients. */
export interface EventHub {
  /**
   * Offers one export line to every matching subscriber. Called on the hot path: O(subscribers),
   * nearly free when there are none, and never waits for a client.
   */
  publish(line: string, meta: EventMeta): void;
  /** Throws {@link StreamLimitError} when the hub already has its maximum of subscribers. */
  subscribe(options?: SubscribeOptions): EventSubscription;
  stats(): EventHubStats;
}

/** The agent's self-description for `GET /status` (version, kernel features, cgroup decision...). */
export interface StatusSource {
  status(): object;
}

/** Liveness and readiness for `GET /healthz` and `GET /readyz`. */
export interface Health {
  alive(): boolean;
  ready(): { ready: boolean; reason?: string };
}

export type { ProgramStat, ProgramStats } from "../metrics/bpf_stats.ts";
