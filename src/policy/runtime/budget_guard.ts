/**
 * The CPU-budget guard: once per window it measures what each policy cost (BPF run time of its
 * hooks plus the agent's user-space time on its events, see budget_meter.ts) against its budget
 * (`vigil-cpu-budget`, else `--policy-cpu-budget`), and walks a policy that stays over it down a
 * ladder, one step per window, each step logged, exported as a `policy_throttled` event and
 * visible in the metrics:
 *
 * 1. a cheaper plan for the same hooks: the planner already picks the cheapest mechanism and
 *    splits raw_syscalls hooks it can split, so at run time there is none to switch to; the step
 *    is logged with the reason and the guard moves on;
 * 2. an in-kernel token bucket on the policy's posts (separate from its rateLimit), sized from the
 *    user-space cost per event measured in the window; calls it drops are counted per hook;
 * 3. detach an observation-only policy (state `throttled`, with the reason); it is re-attached
 *    after a cool-down that doubles each time it has to be detached again (hysteresis).
 *
 * Enforcement policies (Sigkill, Signal, Override in enforce mode) keep running at step 3: the
 * guard logs an error every window they stay over and reports `over_budget`, unless the operator
 * started the agent with `--policy-budget-detach-enforcing`.
 *
 * Coming back: a bucket is removed once the policy's demand (BPF time plus the user-space time
 * its dropped posts would have cost) fits in 80% of the budget; a detached policy is re-attached
 * at the end of its cool-down and, over budget again within its probation, detached at once.
 *
 * @module
 */
import type { Logger } from "../../log/logger.ts";
import type { BudgetSubject } from "../manager.ts";
import type { BudgetState, PolicyBudget } from "../status.ts";
import { formatCpuShare } from "../vocab/cpu_share.ts";
import { BudgetMeter, type MeterSource, type PolicyUse } from "./budget_meter.ts";
import type { PolicyUserTime } from "./user_time.ts";

/** The default budget: 10% of one CPU per policy (see the README's budget section). */
export const DEFAULT_CPU_BUDGET = 0.1;
/** The default window the use is averaged over. */
export const DEFAULT_BUDGET_WINDOW_MS = 10_000;

/** The event types the guard writes (the agent's own events, not the policy's). */
export const GUARD_EVENT_TYPES: readonly string[] = ["policy_throttled", "policy_restored"];

/** A policy's budget is back when its demand fits in this share of it. */
const RESTORE_AT = 0.8;
/** Cool-down before a detached policy is re-attached, in windows (doubles per strike, capped). */
const COOLDOWN_WINDOWS = 3;
const MAX_COOLDOWN_WINDOWS = 96;
/** Token bucket bounds, posts per second per hook. */
const MIN_POSTS_PER_SEC = 10;
const MAX_POSTS_PER_SEC = 100_000;

/** What the guard changes, through the manager's ordered change queue. */
export interface GuardedPolicies {
  budgetSubjects(): BudgetSubject[];
  /** Hooks of shadow runs attached now: sampled with the policies, charged to none of them. */
  shadowHookIds?(): readonly number[];
  setPostBudget(name: string, postsPerSec: number): Promise<boolean>;
  throttle(name: string, reason: string): Promise<boolean>;
  restore(name: string): Promise<boolean>;
}

/** Collaborators of a {@link BudgetGuard}. */
export interface BudgetGuardDeps {
  readonly policies: GuardedPolicies;
  /** The kernel readings (null until the policy engine is loaded). */
  readonly source: () => MeterSource | null;
  readonly userTime: PolicyUserTime;
  /** Writes one event line to the export stream. */
  readonly emit: (type: string, line: string, policy: string) => void;
  readonly logger: Logger;
  readonly nodeName: string;
  /** `--policy-cpu-budget`, a fraction of one CPU. */
  readonly defaultBudget: number;
  readonly windowMs: number;
  /** `--policy-budget-detach-enforcing`: the operator lets the guard detach enforcement policies. */
  readonly detachEnforcing: boolean;
}

/** The guard's memory of one policy. */
interface Track {
  state: BudgetState;
  reason?: string;
  cpuUsed: number;
  bpfUsed: number;
  /** Times detached; each doubles the next cool-down. */
  strikes: number;
  /** Window count at which a detached policy is re-attached. */
  restoreAt: number;
  /** Window count until which a re-attached policy is on probation. */
  probationUntil: number;
  /** Whether the cheaper-plan step was logged for the current over-budget episode. */
  planStepDone: boolean;
}

/** Runs the ladder; `start` ticks it every window, `tick` runs one window (tests call it). */
export class BudgetGuard {
  readonly #deps: BudgetGuardDeps;
  readonly #tracks = new Map<string, Track>();
  #meter: BudgetMeter | null = null;
  #window = 0;
  #last = performance.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  constructor(deps: BudgetGuardDeps) {
    this.#deps = deps;
  }

  /** Ticks every window until {@link close}. */
  start(): void {
    this.#prime();
    this.#timer = setInterval(() => {
      if (this.#busy) return;
      this.#busy = true;
      this.tick().catch((err) =>
        this.#deps.logger.error("budget guard: window failed", { error: String(err) })
      ).finally(() => this.#busy = false);
    }, this.#deps.windowMs);
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The guard's view of policy `name`, for its status. */
  status(name: string, subject?: BudgetSubject): PolicyBudget | undefined {
    const t = this.#tracks.get(name);
    if (!t) return undefined;
    const s = subject ?? this.#deps.policies.budgetSubjects().find((p) => p.name === name);
    if (!s) return undefined;
    return {
      cpuBudget: s.cpuBudget ?? this.#deps.defaultBudget,
      source: s.cpuBudget === undefined ? "agent" : "policy",
      cpuUsed: round(t.cpuUsed),
      bpfUsed: round(t.bpfUsed),
      state: t.state,
      ...(t.reason === undefined ? {} : { reason: t.reason }),
      ...(s.postsPerSec > 0 ? { postsPerSec: s.postsPerSec } : {}),
      enforcing: s.enforcing,
    };
  }

  #prime(): void {
    const src = this.#deps.source();
    if (src === null) return;
    this.#meter ??= new BudgetMeter(src);
    this.#meter.sample(this.#measured(this.#deps.policies.budgetSubjects()));
    this.#deps.userTime.take();
    this.#last = performance.now();
  }

  /** One window: measure every policy, then move each one on the ladder. */
  async tick(): Promise<void> {
    const src = this.#deps.source();
    if (src === null) return;
    if (this.#meter === null) return this.#prime();
    this.#window++;
    const now = performance.now();
    const elapsedNs = Math.max((now - this.#last) * 1e6, 1);
    this.#last = now;
    const subjects = this.#deps.policies.budgetSubjects();
    const uses = this.#meter.sample(this.#measured(subjects));
    const user = this.#deps.userTime.take();
    for (const name of [...this.#tracks.keys()]) {
      if (!subjects.some((s) => s.name === name)) this.#tracks.delete(name);
    }
    for (const s of subjects) {
      const use = uses.get(s.name) ?? { bpfNs: 0, fired: 0, posted: 0, budgetDropped: 0 };
      await this.#step(s, use, user.get(s.name) ?? { ns: 0, events: 0 }, elapsedNs);
    }
  }

  async #step(
    s: BudgetSubject,
    use: PolicyUse,
    user: { ns: number; events: number },
    elapsedNs: number,
  ): Promise<void> {
    const t = this.#tracks.get(s.name) ?? {
      state: s.state === "throttled" ? "throttled" : "ok",
      cpuUsed: 0,
      bpfUsed: 0,
      strikes: 0,
      restoreAt: 0,
      probationUntil: 0,
      planStepDone: false,
    };
    this.#tracks.set(s.name, t);
    const budget = s.cpuBudget ?? this.#deps.defaultBudget;

    if (s.state === "throttled") {
      t.cpuUsed = 0;
      t.bpfUsed = 0;
      if (this.#window < t.restoreAt) return;
      if (!(await this.#deps.policies.restore(s.name))) return;
      t.state = "ok";
      delete t.reason;
      t.probationUntil = this.#window + COOLDOWN_WINDOWS;
      this.#report("policy_restored", "info", s, t, budget, "reattached", {
        reason: `cool-down over after ${this.#cooldown(t.strikes - 1)} windows`,
      });
      return;
    }

    // The policy was replaced or re-attached outside the guard (a reload): start from `ok`.
    if (t.state === "throttled" || (t.state === "bucketed" && s.postsPerSec === 0)) {
      t.state = "ok";
      delete t.reason;
    }
    t.bpfUsed = use.bpfNs / elapsedNs;
    t.cpuUsed = (use.bpfNs + user.ns) / elapsedNs;
    const over = t.cpuUsed > budget;
    const perEventNs = user.events > 0 ? user.ns / user.events : 0;

    if (!over) {
      t.planStepDone = false;
      if (this.#window >= t.probationUntil + 4 * COOLDOWN_WINDOWS) t.strikes = 0;
      if (t.state === "bucketed") {
        // What it would cost without the bucket: the dropped posts' user-space time added back.
        const demand = (use.bpfNs + user.ns + use.budgetDropped * perEventNs) / elapsedNs;
        if (demand <= budget * RESTORE_AT) {
          await this.#deps.policies.setPostBudget(s.name, 0);
          t.state = "ok";
          delete t.reason;
          this.#report("policy_restored", "info", s, t, budget, "bucket_removed", {
            demand: round(demand),
          });
        }
      } else if (t.state === "over_budget" && t.cpuUsed <= budget * RESTORE_AT) {
        t.state = "ok";
        delete t.reason;
        this.#report("policy_restored", "info", s, t, budget, "under_budget", {});
      }
      return;
    }

    const used = `${formatCpuShare(t.cpuUsed)} of a CPU over the last window (BPF ${
      formatCpuShare(t.bpfUsed)
    }), budget ${formatCpuShare(budget)}`;
    if (!t.planStepDone) {
      t.planStepDone = true;
      this.#deps.logger.warn("policy over its CPU budget: step 1, cheaper plan", {
        policy: s.name,
        outcome: "none: the running plan is already the cheapest this kernel allows " +
          "(mechanism per hook chosen by cost, raw_syscalls split where the selectors allow)",
        cpu_used: round(t.cpuUsed),
        budget,
      });
    }
    const onProbation = this.#window <= t.probationUntil;
    // The bucket cuts user-space work only: useless when the BPF time alone is over budget.
    const bucketHelps = user.events > 0 && t.state === "ok" && !onProbation && t.bpfUsed < budget;
    if (bucketHelps) {
      // Room left for user space after the BPF time, at the measured cost per event; half of it.
      const roomNs = Math.max(budget * elapsedNs - use.bpfNs, 0) * 0.5;
      const total = roomNs / perEventNs / (elapsedNs / 1e9);
      const perHook = Math.round(
        clamp(total / Math.max(s.hookIds.length, 1), MIN_POSTS_PER_SEC, MAX_POSTS_PER_SEC),
      );
      if (await this.#deps.policies.setPostBudget(s.name, perHook)) {
        t.state = "bucketed";
        t.reason = `over budget: ${used}; posts limited to ${perHook}/s per hook`;
        this.#report("policy_throttled", "warn", s, t, budget, "token_bucket", {
          posts_per_sec: perHook,
        });
        return;
      }
    }
    if (s.enforcing && !this.#deps.detachEnforcing) {
      const first = t.state !== "over_budget";
      t.state = "over_budget";
      t.reason = `enforcement policy over budget, kept attached: ${used}`;
      // Loud every window it stays over; one event per episode.
      this.#deps.logger.error("enforcement policy over its CPU budget, not detached", {
        policy: s.name,
        cpu_used: round(t.cpuUsed),
        bpf_used: round(t.bpfUsed),
        budget,
        hint: "raise its vigil-cpu-budget option, narrow its hooks, or start the agent with " +
          "--policy-budget-detach-enforcing",
      });
      if (first) this.#report("policy_throttled", "error", s, t, budget, "reported", {});
      return;
    }
    const reason = `over budget: ${used}` + (onProbation ? " (again, right after re-attach)" : "");
    if (!(await this.#deps.policies.throttle(s.name, reason))) return;
    t.strikes++;
    t.state = "throttled";
    t.reason = reason;
    const cooldown = this.#cooldown(t.strikes - 1);
    t.restoreAt = this.#window + cooldown;
    this.#report("policy_throttled", "warn", s, t, budget, "detached", {
      cooldown_seconds: cooldown * this.#deps.windowMs / 1000,
    });
  }

  /**
   * What the meter samples: each policy's hooks, and the shadow runs' hooks under a name no
   * policy can have (a program shared with them splits its run time by every hook's calls).
   */
  #measured(subjects: readonly BudgetSubject[]): Map<string, readonly number[]> {
    const out = hooksOf(subjects);
    const shadow = this.#deps.policies.shadowHookIds?.() ?? [];
    if (shadow.length > 0) out.set(SHADOW_RUNS, shadow);
    return out;
  }

  #cooldown(strikes: number): number {
    return Math.min(COOLDOWN_WINDOWS * 2 ** Math.max(strikes, 0), MAX_COOLDOWN_WINDOWS);
  }

  #report(
    type: "policy_throttled" | "policy_restored",
    level: "info" | "warn" | "error",
    s: BudgetSubject,
    t: Track,
    budget: number,
    step: string,
    extra: Record<string, unknown>,
  ): void {
    const body = {
      policy: s.name,
      step,
      state: t.state,
      ...(t.reason === undefined ? {} : { reason: t.reason }),
      cpu_used: round(t.cpuUsed),
      bpf_used: round(t.bpfUsed),
      cpu_budget: budget,
      enforcing: s.enforcing,
      ...extra,
    };
    this.#deps.logger[level](type === "policy_throttled" ? "policy throttled" : "policy restored", {
      ...body,
    });
    const line = JSON.stringify({
      [type]: body,
      node_name: this.#deps.nodeName,
      time: new Date().toISOString(),
    });
    this.#deps.emit(type, line, s.name);
  }
}

/** The meter's name for the shadow runs' hooks (a policy name is never empty-prefixed). */
const SHADOW_RUNS = "\u0000shadow-runs";

function hooksOf(subjects: readonly BudgetSubject[]): Map<string, readonly number[]> {
  return new Map(subjects.map((s) => [s.name, s.hookIds]));
}

function clamp(v: number, lo: number, hi: number): number {
  return Number.isFinite(v) ? Math.min(Math.max(v, lo), hi) : lo;
}

function round(v: number): number {
  return Number(v.toPrecision(4));
}
