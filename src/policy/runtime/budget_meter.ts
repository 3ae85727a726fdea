/**
 * Attribution of CPU time to policies, once per window: the BPF run time of each program copy
 * (`bpf_enable_stats` counts it per program) split over the hooks the copy runs by their kernel
 * `seen` counters (one copy serves hooks of several policies on different attach points), plus
 * the agent's user-space time on each policy's events.
 *
 * @module
 */
import type { HookCounters } from "../engine.ts";

/** What the meter reads from the kernel. */
export interface MeterSource {
  /** The program fd running hook `id`, or undefined once it is gone. */
  hookProgramFd(id: number): number | undefined;
  counters(id: number): HookCounters;
  /** Cumulative run time of the program behind `fd` (0 when statistics are off). */
  runTimeNs(fd: number): bigint;
  /** Every loaded program copy: their baselines stay current while no hook runs on them. */
  programFds(): readonly number[];
  /** Changes whenever slot `id` gets a new hook (default: slots are never reused). */
  hookGeneration?(id: number): number;
}

/** One policy's use over a window. */
export interface PolicyUse {
  readonly bpfNs: number;
  /** Calls its hooks saw, and matched calls the token bucket dropped, over the window. */
  readonly fired: number;
  readonly posted: number;
  readonly budgetDropped: number;
}

/** Keeps the previous readings, so each window sees deltas. */
export class BudgetMeter {
  readonly #src: MeterSource;
  readonly #runTime = new Map<number, bigint>();
  /** Hooks on each program at the last sample, sorted, joined. */
  readonly #hooksAt = new Map<number, string>();
  readonly #seen = new Map<
    number,
    { gen: number; seen: number; posted: number; budgetDropped: number }
  >();

  constructor(src: MeterSource) {
    this.#src = src;
  }

  /**
   * BPF time and counters per policy since the last call. `policies` maps a policy to its hook
   * ids. A program read for the first time only sets its baseline.
   */
  sample(policies: ReadonlyMap<string, readonly number[]>): Map<string, PolicyUse> {
    const byFd = new Map<number, { hook: number; policy: string; dSeen: number }[]>();
    const counts = new Map<string, { fired: number; posted: number; budgetDropped: number }>();
    const liveHooks = new Set<number>();
    for (const [policy, hooks] of policies) {
      const c = { fired: 0, posted: 0, budgetDropped: 0 };
      counts.set(policy, c);
      for (const hook of hooks) {
        const fd = this.#src.hookProgramFd(hook);
        if (fd === undefined) continue;
        liveHooks.add(hook);
        const now = this.#src.counters(hook);
        const gen = this.#src.hookGeneration?.(hook) ?? 0;
        const kept = this.#seen.get(hook);
        // A slot with a new hook starts from zero (its counters were reset at install).
        const before = kept?.gen === gen ? kept : { seen: 0, posted: 0, budgetDropped: 0 };
        this.#seen.set(hook, {
          gen,
          seen: now.seen,
          posted: now.posted,
          budgetDropped: now.budgetDropped,
        });
        // A reused slot restarts from zero: its counters were reset at install.
        const d = (a: number, b: number) => a >= b ? a - b : a;
        const dSeen = d(now.seen, before.seen);
        c.fired += dSeen;
        c.posted += d(now.posted, before.posted);
        c.budgetDropped += d(now.budgetDropped, before.budgetDropped);
        const list = byFd.get(fd) ?? [];
        list.push({ hook, policy, dSeen });
        byFd.set(fd, list);
      }
    }
    for (const id of [...this.#seen.keys()]) if (!liveHooks.has(id)) this.#seen.delete(id);

    const bpf = new Map<string, number>();
    const liveFds = new Set<number>();
    for (const [fd, hooks] of byFd) {
      liveFds.add(fd);
      const total = this.#src.runTimeNs(fd);
      const before = this.#runTime.get(fd);
      this.#runTime.set(fd, total);
      // Hooks came or went on this program within the window: whose time it was is unknown (a
      // deleted hook's calls would be charged to a new one), so this window only sets the baseline.
      const set = hooks.map((h) => `${h.hook}@${this.#src.hookGeneration?.(h.hook) ?? 0}`).sort()
        .join(",");
      const previous = this.#hooksAt.get(fd) ?? "";
      // From no hook to some: the time since the baseline is the new hooks' own.
      const changed = previous !== "" && previous !== set;
      this.#hooksAt.set(fd, set);
      if (before === undefined || total < before || changed) continue;
      const dRun = Number(total - before);
      const dSeen = hooks.reduce((n, h) => n + h.dSeen, 0);
      for (const h of hooks) {
        // Shared program: its run time split by the calls each hook saw.
        const share = dSeen > 0 ? dRun * h.dSeen / dSeen : dRun / hooks.length;
        bpf.set(h.policy, (bpf.get(h.policy) ?? 0) + share);
      }
    }
    // Copies with no hook now keep a current baseline: a hook re-attached there next window is
    // charged only for its own time.
    const loaded = new Set(this.#src.programFds());
    for (const fd of loaded) if (!liveFds.has(fd)) this.#runTime.set(fd, this.#src.runTimeNs(fd));
    for (const fd of loaded) if (!liveFds.has(fd)) this.#hooksAt.set(fd, "");
    for (const fd of [...this.#hooksAt.keys()]) if (!loaded.has(fd)) this.#hooksAt.delete(fd);
    for (const fd of [...this.#runTime.keys()]) if (!loaded.has(fd)) this.#runTime.delete(fd);

    const out = new Map<string, PolicyUse>();
    for (const [policy, c] of counts) out.set(policy, { bpfNs: bpf.get(policy) ?? 0, ...c });
    return out;
  }
}
