/**
 * `vigil policy explain NAME`: why no event. Prints, per hook of a running policy, how many calls
 * the hook saw and where each one stopped, in pipeline order: filtered by the process filters
 * (pid, namespace, binary, capability), rejected by the argument filters, rate-limited, dropped by
 * the budget guard's token bucket, lost to a full ring buffer, not posted (NoPost), posted; then
 * how many of the policy's events were exported. Fired = the sum of the stages after it.
 *
 * @module
 */
import type { PolicyStats } from "../api/types.ts";
import { API_FLAGS, API_FLAGS_USAGE, ApiClient } from "./api_client.ts";
import { type Command, parseFlags, printOut, UsageError } from "./command.ts";

const USAGE = `Usage: vigil policy explain NAME [options]

Where the calls of policy NAME stopped, per hook, since it was (re)attached:
  fired             calls the hook's program ran on
  filtered          by the process filters (matchPIDs, matchNamespaces, matchBinaries,
                    matchCapabilities): no selector could want the call; split by the
                    filter that turned the first selector down (pid, namespace,
                    capability, binary)
  args rejected     no selector's argument filters (matchArgs) matched
  rate-limited      the selector's rateLimit dropped it
  budget-dropped    the CPU-budget guard's token bucket dropped it
  ring full         the kernel ring buffer was full
  not posted        NoPost (or a shadow run)
  posted            sent to the agent
fired = the sum of the stages below it. Then: the policy's events exported so far.
A throttled policy (detached by the budget guard) has no hooks to count until it is re-attached.

Options:
  --json                    print the API's JSON
${API_FLAGS_USAGE}
  -h, --help                show this help`;

const STAGES: readonly [keyof PolicyStats["total"], string][] = [
  ["filteredByProcess", "filtered (process filters)"],
  ["argsRejected", "args rejected"],
  ["rateLimited", "rate-limited"],
  ["budgetDropped", "budget-dropped"],
  ["ringFull", "ring full"],
  ["noPost", "not posted (NoPost)"],
  ["posted", "posted"],
];

/** The funnel of one hook (or the total) as lines. */
export function explainLines(
  label: string,
  c: PolicyStats["total"] & { filteredBy?: PolicyStats["hooks"][number]["filteredBy"] },
): string[] {
  const width = Math.max(String(c.fired).length, 1);
  const out = [`${label}`, `  ${String(c.fired).padStart(width)}  fired`];
  for (const [key, name] of STAGES) {
    const pct = c.fired > 0 ? ` (${((c[key] / c.fired) * 100).toFixed(1)}%)` : "";
    out.push(`  ${String(c[key]).padStart(width)}  ${name}${pct}`);
    if (key === "filteredByProcess" && c.filteredBy && c.filteredByProcess > 0) {
      const by = Object.entries(c.filteredBy).filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`).join(", ");
      out.push(`  ${" ".repeat(width)}    by ${by}`);
    }
  }
  if (c.signals > 0) out.push(`  ${String(c.signals).padStart(width)}  signals sent`);
  if (c.monitorSkipped > 0) {
    out.push(`  ${String(c.monitorSkipped).padStart(width)}  enforcement skipped (monitor mode)`);
  }
  return out;
}

/** The whole explanation, as printed. */
export function formatExplain(s: PolicyStats): string {
  const lines = [`policy ${s.policy}: ${s.state}${s.reason ? ` (${s.reason})` : ""}`];
  if (s.budget) {
    const pct = (v: number) => `${Number((v * 100).toPrecision(3))}%`;
    lines.push(
      `budget: ${pct(s.budget.cpuUsed)} of a CPU used over the last window ` +
        `(BPF ${pct(s.budget.bpfUsed)}), budget ${pct(s.budget.cpuBudget)} ` +
        `(${s.budget.source}), step ${s.budget.state}` +
        (s.budget.postsPerSec ? `, posts limited to ${s.budget.postsPerSec}/s per hook` : ""),
    );
  }
  for (const h of s.hooks) lines.push(...explainLines(`hook ${h.hook} (${h.mechanism})`, h));
  if (s.hooks.length > 1) lines.push(...explainLines("all hooks", s.total));
  lines.push(`exported: ${s.exported} events`);
  const stuck = s.total.posted - s.exported;
  if (stuck > 0) {
    lines.push(
      `  ${stuck} posted but not exported (still in flight, waiting for metadata, or lost)`,
    );
  }
  return lines.join("\n");
}

/** `vigil policy explain NAME`. */
export const policyExplainCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(
      "policy explain",
      argv,
      { ...API_FLAGS, json: { type: "boolean" } },
      true,
    );
    if (values.help) {
      printOut(USAGE);
      return 0;
    }
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0) {
      throw new UsageError("vigil policy explain: expected exactly one policy NAME");
    }
    using client = ApiClient.fromFlags(values);
    const { body } = await client.json<PolicyStats>(
      "GET",
      `/policies/${encodeURIComponent(name)}/stats`,
      { auth: true },
    );
    printOut(values.json ? JSON.stringify(body) : formatExplain(body));
    return 0;
  },
};
