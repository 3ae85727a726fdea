/**
 * Policy engine, unrelated-syscall cost: the C getppid loop of `bench/c/getppid_loop.c` (pinned
 * to one CPU, ns/call) while the agent runs
 * - with only process tracking (`--policy-dir ""`): target <= 1.02x;
 * - with the file-deletion policy (policies/file_deletion.yaml): it hooks unlinkat, unlink and
 *   rmdir, so on this kernel (no kprobes, no fentry) every syscall of every task takes the slow
 *   tracing path; the target is to cost no more than bare BPF programs on the same tracepoints
 *   (`bpf/bench_policy.bpf.c`), the floor for any tool watching those syscalls here;
 * - with the same policy forced through fentry (`--policy-mechanisms fentry`) and through the
 *   syscall tracepoints (`--policy-mechanisms tracepoint`): the field's lesson in one ratio (fentry
 *   costs only the hooked calls; a syscall tracepoint slows every syscall). Kernels without fentry
 *   (this development machine) show the fentry condition's refusal in the plans;
 * and, for scale, the same policy written the expensive way and kept on raw_syscalls (vigil
 * cannot rewrite this variant), and a bare raw_syscalls program filtering by id.
 *
 * Conditions run interleaved, each round in a rotated order; medians over the rounds. Before each
 * round the host is checked for other programs on syscall tracepoints (they slow the baseline
 * too); such rounds are marked and left out of the medians when enough clean ones exist.
 *
 * Run: `deno run --allow-all bench/policy_syscall_loop.ts [--calls N] [--rounds R] [--cpu C]
 * [--only KEYS]`; in the kernel lab (timings under emulation are indicative only), e.g.
 * `/work/wt/labrun --kernel 6.12 -- deno run -A bench/policy_syscall_loop.ts --only
 * none,policy-fentry,policy-tp --calls 300000 --rounds 3`.
 *
 * @module
 */
import { openBpfRuntime } from "../src/bpf/runtime.ts";
import { silentLogger } from "../src/log/logger.ts";
import {
  compileC,
  ensureTracefs,
  fmt,
  hostActivity,
  keyValues,
  machineLine,
  median,
  onlineCpus,
  parseFlags,
  print,
  run,
  sleep,
} from "./_lib.ts";
import {
  attachBare,
  describePlan,
  expensiveKeptOnRawSyscalls,
  FILE_DELETION_POLICY,
  foreignSyscallHooks,
  loadBareObject,
  PolicyAgent,
  summarize,
  waitForCleanHost,
} from "./_policy_lib.ts";

const USAGE = `usage: deno run --allow-all bench/policy_syscall_loop.ts [options]
  --calls N      getppid calls per run (default 5000000)
  --rounds R     rounds; each runs every condition once (default 7)
  --cpu C        pin the loop to CPU C; -1 = unpinned (default 1 on >= 2 CPUs)
  --wait-clean S wait up to S seconds per round for other programs to leave the syscall
                 tracepoints (default 60)
  --only KEYS    run only these conditions, comma-separated (the baseline "none" always runs):
                 ${"none,tracking,policy,policy-fentry,policy-tp,bare,bareTracking,raw,bareRaw"}`;

const flags = parseFlags(Deno.args, {
  calls: "number",
  rounds: "number",
  cpu: "number",
  "wait-clean": "number",
  only: "string",
}, USAGE);
const CALLS = (flags["calls"] as number | undefined) ?? 5_000_000;
const ROUNDS = (flags["rounds"] as number | undefined) ?? 7;
const CPU = (flags["cpu"] as number | undefined) ?? (onlineCpus() >= 2 ? 1 : -1);
const WAIT_CLEAN_MS = ((flags["wait-clean"] as number | undefined) ?? 60) * 1000;
const ONLY = (flags["only"] as string | undefined)?.split(",").map((k) => k.trim());
/** The kernel lab runs guests under QEMU's software emulation and says so in this variable. */
const EMULATED = Deno.env.get("VIGIL_TEST_TIME_SCALE") !== undefined;
const TIME_SCALE = Number(Deno.env.get("VIGIL_TEST_TIME_SCALE") ?? "1") || 1;

interface Condition {
  readonly key: string;
  readonly label: string;
  readonly note: string;
  readonly setUp: () => Promise<() => Promise<void>>;
}

print(`vigil bench: policy engine, getppid loop (${machineLine()})`);
print(
  `${CALLS} getppid calls per run, ${CPU >= 0 ? `pinned to CPU ${CPU}` : "unpinned"}, ` +
    `${ROUNDS} rounds, conditions interleaved (rotated order); median ns/call`,
);
print(await hostActivity());
if (EMULATED) {
  print(
    "NOTE: emulated kernel (the lab's QEMU software emulation): timings and ratios are " +
      "indicative only",
  );
}

const c = await compileC(["getppid_loop"]);
const unmountTracefs = await ensureTracefs();
const rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
const bare = loadBareObject(rt);
const plans = new Map<string, string[]>();
const drops: Record<string, number[]> = {};

/** A condition running the agent on `policies` (null: process tracking only). */
function agentCondition(
  key: string,
  label: string,
  note: string,
  policies: Record<string, string> | null,
  extraArgs: readonly string[] = [],
): Condition {
  return {
    key,
    label,
    note,
    setUp: async () => {
      const agent = await PolicyAgent.start(policies, extraArgs);
      if (!plans.has(key)) plans.set(key, describePlan(await agent.policies()));
      // Past the start-up work (stretched under the lab's emulation, like every wait there).
      await sleep(300 * TIME_SCALE);
      return async () => {
        const stopped = await agent.stop();
        (drops[key] ??= []).push(stopped.kernelDrops);
        agent.remove();
      };
    },
  };
}

try {
  const binary = c.path("getppid_loop");
  const loop = async () =>
    keyValues(await run(binary, ["count", String(CALLS), String(CPU)]))["ns_per_call"]!;
  const all: Condition[] = [
    {
      key: "none",
      label: "no agent",
      note: "baseline",
      setUp: () => Promise.resolve(async () => {}),
    },
    agentCondition(
      "tracking",
      "vigil, process tracking only",
      `--policy-dir ""; target <= 1.02x`,
      null,
    ),
    agentCondition(
      "policy",
      "vigil + file-deletion policy",
      "policies/file_deletion.yaml; target: <= bare tracepoints",
      { "file_deletion.yaml": Deno.readTextFileSync(FILE_DELETION_POLICY) },
    ),
    agentCondition(
      "policy-fentry",
      "vigil + file-deletion, fentry only",
      "--policy-mechanisms fentry: trampolines on the three syscalls",
      { "file_deletion.yaml": Deno.readTextFileSync(FILE_DELETION_POLICY) },
      ["--policy-mechanisms", "fentry"],
    ),
    agentCondition(
      "policy-tp",
      "vigil + file-deletion, tracepoints only",
      "--policy-mechanisms tracepoint: the plan for kernels without fentry and kprobes",
      { "file_deletion.yaml": Deno.readTextFileSync(FILE_DELETION_POLICY) },
      ["--policy-mechanisms", "tracepoint"],
    ),
    {
      key: "bare",
      label: "bare BPF on sys_enter_{unlinkat,unlink,rmdir}",
      note: "the floor: same tracepoints, programs return at once",
      setUp: () =>
        Promise.resolve(attachBare(bare, ["bare_unlinkat", "bare_unlink", "bare_rmdir"])),
    },
    {
      key: "bareTracking",
      label: "bare BPF on the same + vigil tracking only",
      note: "the floor plus the agent process itself",
      setUp: async () => {
        const agent = await PolicyAgent.start(null);
        const detach = attachBare(bare, ["bare_unlinkat", "bare_unlink", "bare_rmdir"]);
        await sleep(300 * TIME_SCALE);
        return async () => {
          await detach();
          await agent.stop();
          agent.remove();
        };
      },
    },
    agentCondition(
      "raw",
      "vigil + raw_syscalls policy, not rewritten",
      "for scale: expensive variant vigil cannot split",
      { "file_deletion_raw.yaml": expensiveKeptOnRawSyscalls() },
    ),
    {
      key: "bareRaw",
      label: "bare BPF on raw_syscalls/sys_enter, id InMap",
      note: "for scale: the expensive way, bare",
      setUp: () => Promise.resolve(attachBare(bare, ["bare_raw_inmap"])),
    },
  ];
  const unknown = ONLY?.filter((k) => !all.some((x) => x.key === k)) ?? [];
  if (unknown.length) throw new Error(`--only: unknown condition(s) ${unknown.join(", ")}`);
  const conditions = all.filter((x) =>
    x.key === "none" || ONLY === undefined || ONLY.includes(x.key)
  );

  await loop(); // warm-up
  const own = new Set([Deno.pid]);
  const results: number[][] = conditions.map(() => []);
  const clean: boolean[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const foreign = await waitForCleanHost(own, WAIT_CLEAN_MS);
    const row: string[] = conditions.map(() => "");
    for (let k = 0; k < conditions.length; k++) {
      const i = (r + k) % conditions.length;
      const teardown = await conditions[i]!.setUp();
      try {
        results[i]!.push(await loop());
      } finally {
        await teardown();
      }
      row[i] = fmt(results[i]![r]!, 1);
    }
    // Hooks that came while the round ran count too.
    foreign.push(...await foreignSyscallHooks(own));
    clean.push(foreign.length === 0);
    print(
      `  round ${r + 1}: ${row.join("  ")} ns/call` +
        (foreign.length ? `  [NOT CLEAN: other syscall hooks: ${summarize(foreign)}]` : ""),
    );
  }

  const cleanRounds = clean.flatMap((ok, r) => (ok ? [r] : []));
  const use = cleanRounds.length >= 3 ? cleanRounds : results[0]!.map((_, r) => r);
  if (use.length !== ROUNDS) {
    print(`medians over the ${use.length} clean rounds (${ROUNDS - use.length} left out)`);
  } else if (cleanRounds.length < ROUNDS) {
    print(
      `WARNING: only ${cleanRounds.length} clean rounds; medians over all rounds, ` +
        `the baseline of the others ran on the slow syscall path`,
    );
  }
  const pick = (i: number) => use.map((r) => results[i]![r]!);
  const base = median(pick(0));
  print("");
  const width = Math.max(...conditions.map((x) => x.label.length));
  const ratio = (i: number) => median(pick(i)) / base;
  for (let i = 0; i < conditions.length; i++) {
    const perRound = use.map((r) => results[i]![r]! / results[0]![r]!);
    print(
      `${conditions[i]!.label.padEnd(width)}  ${fmt(median(pick(i)), 1, 7)} ns/call  ` +
        `${fmt(ratio(i), 3)}x` +
        (i === 0 ? "" : `  (per-round ${perRound.map((x) => fmt(x, 3)).join(" ")})`) +
        `  ${conditions[i]!.note}`,
    );
  }
  const idx = (key: string) => conditions.findIndex((x) => x.key === key);
  /** `a` vs `b`: ratio of medians and median of per-round ratios, when both ran. */
  const versus = (a: string, b: string, what: string, after = "") => {
    if (idx(a) < 0 || idx(b) < 0) return;
    const refused = [a, b].find((k) => plans.get(k)?.some((l) => l.includes("(error")));
    if (refused !== undefined) {
      print(`${what}: not comparable: the ${refused} plan cannot run here (see the plans below)`);
      return;
    }
    const paired = use.map((r) => results[idx(a)]![r]! / results[idx(b)]![r]!);
    print(
      `${what}: ${fmt(ratio(idx(a)) / ratio(idx(b)), 3)}x (ratio of medians), median of ` +
        `per-round ratios ${fmt(median(paired), 3)}x${after}`,
    );
  };
  print("");
  versus("policy", "bare", "vigil + file-deletion vs bare tracepoints", "; target <= 1.00x");
  versus(
    "policy",
    "bareTracking",
    "vigil + file-deletion vs bare tracepoints + tracking-only agent",
  );
  if (idx("tracking") >= 0) {
    print(`process tracking only: ${fmt(ratio(idx("tracking")), 3)}x vs no agent; target <= 1.02x`);
  }
  versus(
    "policy",
    "policy-tp",
    "file-deletion as planned here vs through tracepoints only",
    " (< 1: the plan here, e.g. fentry, is cheaper)",
  );
  for (const key of ["policy-fentry", "policy-tp"]) {
    if (idx(key) < 0) continue;
    const runs = !plans.get(key)?.some((l) => l.includes("(error"));
    print(
      `${conditions[idx(key)]!.label}: ${fmt(ratio(idx(key)), 3)}x vs no agent` +
        (runs ? "" : " (its plan cannot run here: the agent ran without it)"),
    );
  }
  versus(
    "policy-fentry",
    "policy-tp",
    "file-deletion through fentry vs through the syscall tracepoints",
    ` (< 1: fentry is cheaper)${EMULATED ? "; emulated: indicative only" : ""}`,
  );
  print("plans (from the agent's GET /policies):");
  for (const key of ["policy", "policy-fentry", "policy-tp", "raw"]) {
    for (const line of plans.get(key) ?? []) print(`  ${line}`);
  }
  print(
    `agent kernel drops per run: ${
      Object.entries(drops).map(([k, v]) => `${k} ${v.join(",")}`).join("; ")
    }`,
  );
} finally {
  bare.close();
  rt.close();
  await unmountTracefs();
  c.close();
}
