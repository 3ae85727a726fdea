/**
 * `vigil policy plan FILE... [--shadow 10s]`: the preflight. Prints each file's plan on this
 * kernel (what `policy check` prints: mechanisms, cost classes, the map entries and bytes it
 * creates); with `--shadow`, the running agent also attaches each policy with posting and actions
 * off for that long on the live host and reports hook hits/s, matches/s, BPF ns per hit and the
 * projected CPU share against the policy's budget.
 *
 * @module
 */
import type { ShadowReport } from "../policy/runtime/shadow.ts";
import { API_FLAGS, API_FLAGS_USAGE, ApiClient } from "./api_client.ts";
import { type Command, parseFlags, printErr, printOut, UsageError } from "./command.ts";
import { policyCheckCommand } from "./policy_check.ts";

const USAGE = `Usage: vigil policy plan FILE... [--shadow DURATION] [options]

Prints the plan of each policy file on this kernel (as 'vigil policy check' does: the mechanism
per hook, its cost class, the map entries and kernel memory its selectors need). With --shadow
(e.g. 10s, from 1s to 60s) the running agent attaches each policy for that long with posting and
actions off, on the live host, and reports: hook hits/s, selector matches/s, BPF ns per hit, and
the projected CPU share (BPF time plus the agent's measured user-space cost per event for each
match) against the policy's budget (its vigil-cpu-budget option, else the agent's
--policy-cpu-budget).

Options:
  --shadow DURATION         shadow-run each policy on the running agent for DURATION
  --json                    print the shadow reports as JSON (with --shadow)
${API_FLAGS_USAGE}
  -h, --help                show this help

Exit status: as 'policy check' (0 fine, 1 invalid, 3 not runnable here); with --shadow, 4 when a
policy's projected CPU share exceeds its budget.`;

/** `10s`, `10`, `1.5s` → seconds. */
function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)s?$/.exec(text.trim());
  if (m === null) throw new UsageError(`vigil policy plan: --shadow: '${text}' is not a duration`);
  return Number(m[1]);
}

/** The text of one shadow report. */
export function formatShadow(r: ShadowReport): string {
  const pct = (v: number) => `${Number((v * 100).toPrecision(3))}%`;
  const lines = [`shadow run of ${r.policy} for ${r.seconds}s:`];
  for (const h of r.hooks) {
    lines.push(
      `  ${h.hook} (${h.mechanism}): ${h.hitsPerSec} hits/s, ${h.matchesPerSec} matches/s, ` +
        `${h.nsPerHit} ns/hit`,
    );
  }
  lines.push(
    `  projected CPU: ${pct(r.projectedShare)} of one CPU (BPF ${pct(r.bpfShare)}, user space ` +
      `${r.userNsPerEvent} ns per event, ${r.userNsSource}); budget ${pct(r.cpuBudget)}: ` +
      (r.overBudget ? "OVER BUDGET" : "fits"),
  );
  return lines.join("\n");
}

/** `vigil policy plan`. */
export const policyPlanCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags("policy plan", argv, {
      ...API_FLAGS,
      shadow: { type: "string" },
      json: { type: "boolean" },
      "host-libbpf": { type: "boolean" },
    }, true);
    if (values.help) {
      printOut(USAGE);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError("vigil policy plan: give a policy FILE");
    const checkArgs = [...positionals, ...(values["host-libbpf"] ? ["--host-libbpf"] : [])];
    const shadowText = values.shadow as string | undefined;
    if (shadowText === undefined) return await policyCheckCommand.run(checkArgs);
    const seconds = parseDuration(shadowText);
    if (!values.json) {
      const code = await policyCheckCommand.run(checkArgs);
      if (code !== 0) return code;
    }
    using client = ApiClient.fromFlags(values);
    let over = false;
    const reports: ShadowReport[] = [];
    for (const file of positionals) {
      const yaml = await Deno.readTextFile(file);
      const { status, body } = await client.json<
        { shadow?: ShadowReport; error?: string }
      >("POST", `/policies?dryRun=shadow&seconds=${seconds}`, {
        auth: true,
        body: yaml,
        contentType: "application/yaml",
        accept: [400],
        signal: AbortSignal.timeout((seconds + 30) * 1000),
      });
      if (status === 400 || body.shadow === undefined) {
        printErr(`${file}: ${body.error ?? "shadow run refused"}`);
        return 1;
      }
      reports.push(body.shadow);
      over ||= body.shadow.overBudget;
      if (!values.json) printOut(formatShadow(body.shadow));
    }
    if (values.json) printOut(JSON.stringify({ shadow: reports }));
    return over ? 4 : 0;
  },
};
