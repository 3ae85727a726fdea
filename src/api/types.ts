/**
 * The contracts between the HTTP API and the rest of the agent. The API only reads snapshots and
 * calls these interfaces; the agent's composition root supplies the implementations (policy
 * manager, event hub, status, health, BPF program statistics).
 *
 * @module
 */

/** The state of one policy, as `GET /policies` lists it. */
export type PolicyState = "enabled" | "error" | "loading";

/** One hook of a policy and how it is attached. */
export interface PolicyHookStatus {
  /** What is hooked, e.g. `kprobe:security_file_permission` or `tracepoint:sched/sched_process_exec`. */
  readonly hook: string;
  /** The attach mechanism, e.g. `fentry`, `kprobe`, `tracepoint`, `lsm`. */
  readonly mechanism: string;
  /** A short cost class for operators, e.g. `low`, `medium`, `high (every syscall)`. */
  readonly cost: string;
  readonly attached: boolean;
}

/** Event counters of one policy. */
export interface PolicyCounters {
  /** Hook invocations that reached the policy's selectors. */
  readonly seen: number;
  /** Events posted to user space. */
  readonly posted: number;
  /** Events filtered out in the kernel. */
  readonly filtered: number;
  /** Events dropped by the policy's rate limit. */
  readonly rateLimited: number;
  /** Signals sent by enforcement actions. */
  readonly signals: number;
}

/** What the API reports about one policy. */
export interface PolicyStatus {
  /** `metadata.name`. */
  readonly name: string;
  readonly state: PolicyState;
  /** Why the state is `error` (or `loading`). */
  readonly reason?: string;
  /** `enforce` or `monitor`. */
  readonly mode?: string;
  readonly hooks: readonly PolicyHookStatus[];
  readonly counters: PolicyCounters;
}

/** One precise problem with a submitted policy. */
export interface PolicyError {
  readonly message: string;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** YAML path, e.g. `spec.kprobes[0].call`. */
  readonly path?: string;
}

/** The outcome of {@link PolicyService.apply}. */
export type ApplyResult =
  | { readonly ok: true; readonly policy: PolicyStatus; readonly replaced: boolean }
  | { readonly ok: false; readonly status?: 400; readonly errors: readonly PolicyError[] };

/** The outcome of {@link PolicyService.reload}. */
export interface ReloadResult {
  /** Every policy after the reload. */
  readonly policies: readonly PolicyStatus[];
  /** Files that failed; their previous versions (if any) keep running. */
  readonly errors: readonly { readonly file: string; readonly message: string }[];
}

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
}

/** One stream client's view of the events. Iterating yields export lines (no newline). */
export interface EventSubscription extends AsyncIterable<string> {
  /**
   * Waits for lines and takes every queued one; resolves to null once the subscription is closed
   * or dropped (queued lines are discarded on drop).
   */
  nextBatch(): Promise<string[] | null>;
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
}

/** Fans export lines out to stream clients. */
export interface EventHub {
  /**
   * Offers one export line to every matching subscriber. Called on the hot path: O(subscribers),
   * nearly free when there are none, and never waits for a client.
   */
  publish(line: string, meta: EventMeta): void;
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

/** Kernel statistics of one BPF program. */
export interface ProgramStat {
  /** Kernel program id. */
  readonly id: number;
  readonly name: string;
  /** The policy it belongs to; absent for the agent's own programs. */
  readonly policy?: string;
  /** Times the program ran (counted only while BPF statistics are on). */
  readonly runCount: bigint;
  /** Total time spent in the program, in nanoseconds, over all CPUs. */
  readonly runTimeNs: bigint;
  /** Runs the kernel skipped because the program was already running on that CPU. */
  readonly recursionMisses?: bigint;
}

/** Source of per-program BPF statistics (`vigil top`, the `vigil_bpf_program_*` metrics). */
export interface ProgramStats {
  list(): ProgramStat[];
  /** Whether the kernel is counting (`bpf_enable_stats` held or `kernel.bpf_stats_enabled=1`). */
  readonly enabled?: boolean;
}
