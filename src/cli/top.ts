/**
 * `vigil top`: per-program CPU share of the agent's BPF programs, from the kernel's run-time
 * statistics the agent exports on `/metrics` (what `tetra debug progs` shows):
 * Ovh% = Δrun_time ÷ (interval × CPUs) × 100.
 *
 * @module
 */
import { parseMetricsText } from "../metrics/parse_text.ts";
import { API_FLAGS, API_FLAGS_USAGE, ApiClient, ApiError, formatTable } from "./api_client.ts";
import { type Command, parseFlags, printOut, UsageError } from "./command.ts";

const USAGE = `Usage: vigil top [options]

Shows how much CPU each of the running agent's BPF programs uses, refreshed every interval, busiest
first (like 'tetra debug progs'). Ovh% = run time in the interval ÷ (interval × CPUs) × 100; Cnt and
Time are the runs and nanoseconds within the interval. Needs the agent's BPF statistics (on unless
it runs with --no-bpf-stats). Below it, per policy: the CPU it used over the budget guard's last
window (BPF plus the agent's user-space time on its events, % of one CPU), its budget, and the
guard's step (ok, bucketed, throttled, over_budget).

Options:
  --once                    print one sample (two scrapes one interval apart) and exit
  --interval SECONDS        sampling interval (default 1)
  --cpus N                  CPUs to divide by (default: the host's online CPUs)
${API_FLAGS_USAGE}
  -h, --help                show this help`;

/** Cumulative counters of one program at one scrape. */
export interface ProgramSample {
  readonly id: string;
  readonly program: string;
  readonly policy: string;
  readonly runs: number;
  readonly seconds: number;
}

/** One row of the table. */
export interface TopRow {
  readonly overheadPct: number;
  readonly id: string;
  readonly runs: number;
  readonly timeNs: number;
  readonly program: string;
  readonly policy: string;
}

/** The BPF program samples in a `/metrics` text, and whether statistics are on. */
export function programSamples(metricsText: string): {
  programs: Map<string, ProgramSample>;
  statsEnabled: boolean | undefined;
  budgets: Map<string, PolicyBudgetSample>;
} {
  const programs = new Map<string, ProgramSample>();
  const budgets = new Map<string, PolicyBudgetSample>();
  let statsEnabled: boolean | undefined;
  for (const s of parseMetricsText(metricsText)) {
    if (s.name === "vigil_bpf_stats_enabled") statsEnabled = s.value === 1;
    const policy = s.labels.policy ?? "";
    const b = budgets.get(policy) ?? { policy, used: 0, budget: 0, state: "" };
    if (s.name === "vigil_policy_cpu_ratio") budgets.set(policy, { ...b, used: s.value });
    if (s.name === "vigil_policy_cpu_budget_ratio") budgets.set(policy, { ...b, budget: s.value });
    if (s.name === "vigil_policy_budget_state" && s.value === 1) {
      budgets.set(policy, { ...b, state: s.labels.state ?? "" });
    }
    const isRuns = s.name === "vigil_bpf_program_runs_total";
    const isTime = s.name === "vigil_bpf_program_run_time_seconds_total";
    if (!isRuns && !isTime) continue;
    const id = s.labels.id ?? "";
    const prev = programs.get(id) ??
      { id, program: s.labels.program ?? "", policy: s.labels.policy ?? "", runs: 0, seconds: 0 };
    programs.set(id, isRuns ? { ...prev, runs: s.value } : { ...prev, seconds: s.value });
  }
  return { programs, statsEnabled, budgets };
}

/** One policy's CPU budget line, from the budget guard's gauges. */
export interface PolicyBudgetSample {
  readonly policy: string;
  /** Share of one CPU used over the guard's last window. */
  readonly used: number;
  readonly budget: number;
  readonly state: string;
}

/** The per-policy budget table under the program table. */
export function formatBudgets(budgets: ReadonlyMap<string, PolicyBudgetSample>): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}`;
  return formatTable(
    ["Policy", "CPU(% of 1)", "Budget(%)", "Step"],
    [...budgets.values()].sort((a, b) => b.used - a.used).map((b) => [
      b.policy,
      pct(b.used),
      pct(b.budget),
      b.state,
    ]),
  );
}

/**
 * Rows for two scrapes `intervalS` apart, busiest first. A program absent from `before` (just
 * loaded) counts from zero.
 *
 * @example
 * ```ts
 * const rows = topRows(before, after, 1, 2); // 2 CPUs, 1 s apart
 * ```
 */
export function topRows(
  before: ReadonlyMap<string, ProgramSample>,
  after: ReadonlyMap<string, ProgramSample>,
  intervalS: number,
  cpus: number,
): TopRow[] {
  const rows: TopRow[] = [];
  for (const now of after.values()) {
    const then = before.get(now.id);
    const runs = Math.max(0, now.runs - (then?.runs ?? 0));
    const seconds = Math.max(0, now.seconds - (then?.seconds ?? 0));
    rows.push({
      overheadPct: (seconds / (intervalS * cpus)) * 100,
      id: now.id,
      runs,
      timeNs: Math.round(seconds * 1e9),
      program: now.program,
      policy: now.policy,
    });
  }
  return rows.sort((a, b) => b.timeNs - a.timeNs || Number(a.id) - Number(b.id));
}

/** The table `vigil top` prints. */
export function formatTop(rows: readonly TopRow[]): string {
  return formatTable(
    ["Ovh(%)", "Id", "Cnt", "Time(ns)", "Name", "Policy"],
    rows.map((r) => [
      r.overheadPct.toFixed(2),
      r.id,
      String(r.runs),
      String(r.timeNs),
      r.program,
      r.policy,
    ]),
  );
}

/** Online CPUs from `/sys/devices/system/cpu/online` (e.g. `0-3,6`), else the runtime's count. */
export function onlineCpus(): number {
  try {
    const text = Deno.readTextFileSync("/sys/devices/system/cpu/online").trim();
    let n = 0;
    for (const part of text.split(",")) {
      const [a, b] = part.split("-").map(Number);
      if (a === undefined || Number.isNaN(a)) continue;
      n += b === undefined || Number.isNaN(b) ? 1 : b - a + 1;
    }
    if (n > 0) return n;
  } catch {
    // fall through
  }
  return navigator.hardwareConcurrency || 1;
}

function positiveNumber(flag: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`vigil top: --${flag} must be a positive number, got '${value}'`);
  }
  return n;
}

async function scrape(client: ApiClient): Promise<ReturnType<typeof programSamples>> {
  const res = await client.request("GET", "/metrics");
  const text = await res.text();
  if (!res.ok) throw new ApiError(`GET /metrics: HTTP ${res.status}: ${text.slice(0, 200)}`);
  return programSamples(text);
}

const CLEAR = "\x1b[H\x1b[2J";

/** The `top` verb. */
export const topCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags("top", argv, {
      ...API_FLAGS,
      once: { type: "boolean" },
      interval: { type: "string" },
      cpus: { type: "string" },
    });
    if (values.help) {
      printOut(USAGE);
      return 0;
    }
    const intervalS = positiveNumber("interval", values.interval, 1);
    const cpus = positiveNumber("cpus", values.cpus, onlineCpus());
    using client = ApiClient.fromFlags(values);
    const tty = Deno.stdout.isTerminal();
    let before = await scrape(client);
    let at = performance.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, intervalS * 1000));
      const after = await scrape(client);
      const now = performance.now();
      const rows = topRows(before.programs, after.programs, (now - at) / 1000, cpus);
      const notes: string[] = [];
      if (after.statsEnabled === false) {
        notes.push("BPF statistics are off (agent started with --no-bpf-stats): counters stay 0");
      }
      if (rows.length === 0) notes.push("the agent reports no BPF programs");
      const budgetTable = after.budgets.size > 0 ? ["", formatBudgets(after.budgets)] : [];
      const text = [formatTop(rows), ...notes, ...budgetTable].join("\n");
      if (values.once) {
        printOut(text);
        return 0;
      }
      printOut(tty ? CLEAR + text : text + "\n");
      before = after;
      at = now;
    }
  },
};
