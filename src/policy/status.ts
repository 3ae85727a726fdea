/**
 * What the running policy set reports: one set of status and error types, shared by the policy
 * manager, the HTTP API, the metrics and the CLI (the API's wire format is these shapes as JSON).
 *
 * @module
 */

/** The state of one policy, as `GET /policies` lists it. */
export type PolicyState = "enabled" | "error" | "loading" | "throttled";

/**
 * Where the CPU-budget guard has a policy: `ok`, `bucketed` (its posts go through the guard's
 * token bucket), `throttled` (detached, re-attached after a cool-down), `over_budget` (an
 * enforcement policy over its budget: kept attached and reported).
 */
export type BudgetState = "ok" | "bucketed" | "throttled" | "over_budget";

/** The CPU budget of one policy and what it used over the last window. */
export interface PolicyBudget {
  /** The budget, a fraction of one CPU (0.05 = 5%). */
  readonly cpuBudget: number;
  /** `vigil-cpu-budget` of the policy, or the agent's `--policy-cpu-budget`. */
  readonly source: "policy" | "agent";
  /** CPU used over the last window, a fraction of one CPU: BPF run time plus user space. */
  readonly cpuUsed: number;
  /** Its BPF part. */
  readonly bpfUsed: number;
  readonly state: BudgetState;
  readonly reason?: string;
  /** The guard's posts/s token bucket per hook, when `bucketed`. */
  readonly postsPerSec?: number;
  /** Enforcement policy: never detached by the guard (unless the operator allowed it). */
  readonly enforcing: boolean;
}

/** `spec.options` `policy-mode`: enforcement actions taken, or only reported. */
export type PolicyMode = "enforce" | "monitor";

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

/** Event counters of one policy (or one hook), read from the kernel. */
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

/** What the agent reports about one policy. */
export interface PolicyStatus {
  /** `metadata.name`. */
  readonly name: string;
  readonly state: PolicyState;
  /** Why the state is `error` (or `loading`). */
  readonly reason?: string;
  /** The file the policy was read from (`api` for one held in memory only). */
  readonly file?: string;
  readonly mode?: PolicyMode;
  readonly hooks: readonly PolicyHookStatus[];
  readonly counters: PolicyCounters;
  /** The CPU-budget guard's view (absent before its first window). */
  readonly budget?: PolicyBudget;
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

/**
 * The outcome of adding or replacing one policy. `status` 400 (the default): the text is at
 * fault; 500: the text was fine but the change could not be made (e.g. saving it failed), and
 * nothing changed.
 */
export type ApplyResult =
  | { readonly ok: true; readonly policy: PolicyStatus; readonly replaced: boolean }
  | {
    readonly ok: false;
    readonly status?: 400 | 500;
    readonly errors: readonly PolicyError[];
  };

/** The outcome of re-reading the policy directory. */
export interface ReloadResult {
  /** Every policy after the reload. */
  readonly policies: readonly PolicyStatus[];
  /** Files that failed; their previous versions (if any) keep running. */
  readonly errors: readonly { readonly file: string; readonly message: string }[];
}
