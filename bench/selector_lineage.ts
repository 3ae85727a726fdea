/**
 * What the lineage selectors cost per call: the C getppid loop (`bench/c/getppid_loop.c`,
 * pinned to one CPU, ns/call) while the agent runs a policy on getppid whose one selector
 * rejects the loop's calls in the kernel
 * - by its own binary (matchBinaries In a path nobody runs): one map lookup;
 * - by its binary and its ancestors' (the same with followChildren): up to VIGIL_FOLLOW_DEPTH
 *   lookups, one per ancestor, as the loop has no matching ancestor;
 * - by its pid and its ancestors' (matchPIDs In an unused pid, followForks): up to
 *   VIGIL_FOLLOW_DEPTH reads of task_struct, no map lookup;
 * - by its parent's binary (matchParentBinaries In a path nobody runs): one lookup.
 * The deltas between these rows are the walk's price; all pay the syscall tracepoint here.
 *
 * Conditions run interleaved, each round in a rotated order; medians over the rounds.
 *
 * Run: `deno run --allow-all bench/selector_lineage.ts [--calls N] [--rounds R] [--cpu C]`
 *
 * @module
 */
import { compileC, fmt, machineLine, median, onlineCpus, parseFlags, print, run } from "./_lib.ts";
import { keyValues, sleep } from "./_lib.ts";
import { PolicyAgent } from "./_policy_lib.ts";

const USAGE = `usage: deno run --allow-all bench/selector_lineage.ts [options]
  --calls N   getppid calls per run (default 2000000)
  --rounds R  rounds; each runs every condition once (default 5)
  --cpu C     pin the loop to CPU C; -1 = unpinned (default 1 on >= 2 CPUs)`;

const flags = parseFlags(Deno.args, { calls: "number", rounds: "number", cpu: "number" }, USAGE);
const CALLS = (flags["calls"] as number | undefined) ?? 2_000_000;
const ROUNDS = (flags["rounds"] as number | undefined) ?? 5;
const CPU = (flags["cpu"] as number | undefined) ?? (onlineCpus() >= 2 ? 1 : -1);

const NOBODY = "/nonexistent/vigil-bench-binary";
/** A pid above the kernel's pid_max default range: no process has it. */
const NO_PID = 4_194_303;

const getppid = (filter: string) =>
  `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: lineage-bench
spec:
  kprobes:
  - call: sys_getppid
    syscall: true
    selectors:
${filter}`;

const binaries = (field: string, follow: boolean) =>
  `    - ${field}:
      - operator: In
        values: ["${NOBODY}"]${follow ? "\n        followChildren: true" : ""}
`;

interface Condition {
  readonly label: string;
  readonly policy: string | null;
}

const conditions: Condition[] = [
  { label: "no agent", policy: null },
  { label: "matchBinaries In", policy: getppid(binaries("matchBinaries", false)) },
  {
    label: "matchBinaries In, followChildren",
    policy: getppid(binaries("matchBinaries", true)),
  },
  {
    label: "matchPIDs In, followForks",
    policy: getppid(`    - matchPIDs:
      - operator: In
        followForks: true
        values: [${NO_PID}]
`),
  },
  { label: "matchParentBinaries In", policy: getppid(binaries("matchParentBinaries", false)) },
];

print(`vigil bench: lineage selectors, getppid loop (${machineLine()})`);
print(
  `${CALLS} getppid calls per run, ${CPU >= 0 ? `pinned to CPU ${CPU}` : "unpinned"}, ` +
    `${ROUNDS} rounds, conditions interleaved (rotated order); median ns/call`,
);
const c = await compileC(["getppid_loop"]);
const loop = async () =>
  keyValues(await run(c.path("getppid_loop"), ["count", String(CALLS), String(CPU)]))[
    "ns_per_call"
  ]!;

await loop(); // warm-up
const results: number[][] = conditions.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < conditions.length; k++) {
    const i = (r + k) % conditions.length;
    const cond = conditions[i]!;
    const agent = cond.policy === null
      ? null
      : await PolicyAgent.start({ "lineage.yaml": cond.policy });
    try {
      if (agent) {
        const bad = (await agent.policies()).filter((p) => p.state !== "enabled");
        if (bad.length > 0) throw new Error(`policy not enabled: ${JSON.stringify(bad)}`);
        await sleep(300);
      }
      results[i]!.push(await loop());
    } finally {
      if (agent) {
        await agent.stop();
        agent.remove();
      }
    }
  }
  print(`  round ${r + 1}: ${results.map((x) => fmt(x[r]!, 1)).join("  ")} ns/call`);
}
const base = median(results[0]!);
const plain = median(results[1]!);
for (const [i, cond] of conditions.entries()) {
  const m = median(results[i]!);
  print(
    `${cond.label.padEnd(36)} ${fmt(m, 1).padStart(8)} ns/call  ${fmt(m / base, 2)}x no agent  ${
      i === 0 ? "" : `${fmt(m - plain, 1)} ns vs matchBinaries In`
    }`,
  );
}
