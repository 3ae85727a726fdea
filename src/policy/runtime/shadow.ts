/**
 * Preflight by shadow run: a policy attached with posting and actions off for a while on the
 * live host, reporting what it would cost: hook hits/s, selector matches/s, BPF ns per hit and
 * the projected CPU share (its BPF time now, plus the user-space time its matches would cost at
 * the agent's measured cost per event), against its budget.
 *
 * @module
 */
import type { PolicyManager } from "../manager.ts";
import type { PolicyError } from "../status.ts";
import { BudgetMeter, type MeterSource } from "./budget_meter.ts";

/** Shortest and longest shadow run accepted. */
export const SHADOW_SECONDS = { min: 1, max: 60, default: 10 } as const;
/** Assumed user-space ns per event when the agent has measured none yet. */
const DEFAULT_USER_NS_PER_EVENT = 10_000;

/** One hook of a shadow run. */
export interface ShadowHook {
  readonly hook: string;
  readonly mechanism: string;
  readonly hits: number;
  readonly hitsPerSec: number;
  readonly matches: number;
  readonly matchesPerSec: number;
  /** BPF run time per hit (0 without run-time statistics). */
  readonly nsPerHit: number;
}

/** What `POST /policies?dryRun=shadow` answers. */
export interface ShadowReport {
  readonly policy: string;
  readonly seconds: number;
  readonly hooks: readonly ShadowHook[];
  /** BPF run time over the run, as a share of one CPU. */
  readonly bpfShare: number;
  /** User-space ns per event the projection assumes, and where the number comes from. */
  readonly userNsPerEvent: number;
  readonly userNsSource: "measured" | "assumed";
  /** bpfShare + matches/s × userNsPerEvent: what the policy would cost running for real. */
  readonly projectedShare: number;
  readonly cpuBudget: number;
  readonly overBudget: boolean;
}

/** What a shadow run needs from the agent. */
export interface ShadowDeps {
  readonly policies: PolicyManager;
  readonly source: () => MeterSource | null;
  readonly defaultBudget: number;
  /** The agent's average user-space ns per policy event so far (undefined: none yet). */
  readonly userNsPerEvent: () => number | undefined;
}

/** Runs `yaml` as a shadow for `seconds`; errors when it does not parse or plan. */
export async function runShadow(
  deps: ShadowDeps,
  yaml: string,
  seconds: number,
): Promise<{ ok: true; report: ShadowReport } | { ok: false; errors: PolicyError[] }> {
  const installed = await deps.policies.installShadow(yaml);
  if (!installed.ok) return { ok: false, errors: installed.errors };
  try {
    const src = deps.source();
    if (src === null) throw new Error("the policy engine is not loaded");
    // Every running policy is sampled too, so a program copy they share is split fairly.
    const others = new Map(deps.policies.budgetSubjects().map((s) => [s.name, s.hookIds]));
    const key = "\u0000shadow";
    const all = new Map([...others, [key, installed.hooks.map((h) => h.id)]]);
    const meter = new BudgetMeter(src);
    meter.sample(all);
    const start = installed.hooks.map((h) => src.counters(h.id));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const use = meter.sample(all).get(key);
    const elapsedS = (performance.now() - t0) / 1000;
    const hooks = installed.hooks.map((h, i) => {
      const c = src.counters(h.id);
      const hits = c.seen - start[i]!.seen;
      const matches = c.shadowMatched - start[i]!.shadowMatched;
      return { h, hits, matches };
    });
    const totalHits = hooks.reduce((n, x) => n + x.hits, 0);
    const bpfNs = use?.bpfNs ?? 0;
    const nsPerHit = totalHits > 0 ? bpfNs / totalHits : 0;
    const measured = deps.userNsPerEvent();
    const userNs = measured ?? DEFAULT_USER_NS_PER_EVENT;
    const matchesPerSec = hooks.reduce((n, x) => n + x.matches, 0) / elapsedS;
    const bpfShare = bpfNs / (elapsedS * 1e9);
    const projectedShare = bpfShare + matchesPerSec * userNs / 1e9;
    const cpuBudget = installed.cpuBudget ?? deps.defaultBudget;
    return {
      ok: true,
      report: {
        policy: installed.name,
        seconds: round(elapsedS),
        hooks: hooks.map(({ h, hits, matches }) => ({
          hook: h.label,
          mechanism: h.mechanism,
          hits,
          hitsPerSec: round(hits / elapsedS),
          matches,
          matchesPerSec: round(matches / elapsedS),
          // Hooks of one run share its BPF time by their hits.
          nsPerHit: round(nsPerHit),
        })),
        bpfShare: round(bpfShare),
        userNsPerEvent: Math.round(userNs),
        userNsSource: measured === undefined ? "assumed" : "measured",
        projectedShare: round(projectedShare),
        cpuBudget,
        overBudget: projectedShare > cpuBudget,
      },
    };
  } finally {
    await installed.remove();
  }
}

function round(v: number): number {
  return Number(v.toPrecision(4));
}
