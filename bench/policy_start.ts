/**
 * Start-to-ready of the agent with the example policies (policies/), per mechanism set: the
 * planner's default choice (fentry where the kernel has it: one program verified per hooked
 * function), kprobes (one program for every function), and the syscall tracepoints (one program
 * for every tracepoint). Prints the agent's own start-to-ready (`startup_ms` of its ready line),
 * how many policy programs it loaded beyond the engine's first, and their summed load time, side
 * by side in interleaved rounds (medians). A set the kernel cannot run shows the agent's refusal.
 *
 * Run: `deno run -A bench/policy_start.ts [--rounds N] [--policy-dir DIR]`; in the lab:
 * `/work/wt/labrun --kernel 6.12 -- deno run -A bench/policy_start.ts --rounds 1` (timings under
 * emulation are indicative only).
 *
 * @module
 */
import { AgentProcess, median, parseFlags, print, REPO_ROOT } from "./_lib.ts";

const USAGE = `usage: deno run --allow-all bench/policy_start.ts [--rounds N] [--policy-dir DIR]
  --rounds N       interleaved rounds (default 3)
  --policy-dir D   policies to start with (default policies/)`;
const flags = parseFlags(Deno.args, { rounds: "number", "policy-dir": "string" }, USAGE);
const ROUNDS = (flags["rounds"] as number | undefined) ?? 3;
const DIR = (flags["policy-dir"] as string | undefined) ?? `${REPO_ROOT}policies`;
const EMULATED = Deno.env.get("VIGIL_TEST_TIME_SCALE") !== undefined;

const SETS: readonly { label: string; args: readonly string[] }[] = [
  { label: "default plan", args: [] },
  { label: "kprobe,lsm,tracepoint", args: ["--policy-mechanisms", "kprobe,lsm,tracepoint"] },
  { label: "tracepoint", args: ["--policy-mechanisms", "tracepoint"] },
];

interface Run {
  readyMs: number;
  loads: number;
  loadMs: number;
  plan: string;
}

async function once(args: readonly string[]): Promise<Run> {
  const exportPath = Deno.makeTempFileSync({ prefix: "vigil_policy_start_", suffix: ".json" });
  try {
    const { agent, start } = await AgentProcess.start(
      exportPath,
      ["--policy-dir", DIR, "--listen", "", ...args],
      600_000,
    );
    const loaded = agent.lines.filter((l) => l.includes('"msg":"policy engine: loaded'));
    const loadMs = loaded.reduce((n, l) => n + Number(/"load_ms":(\d+)/.exec(l)?.[1] ?? 0), 0);
    const ready = agent.lines.find((l) => l.includes('"msg":"ready"')) ?? "";
    const plan = /"policies":\[([^\]]*)\]/.exec(ready)?.[1] ?? "";
    await agent.stop();
    return { readyMs: start.startupMs, loads: loaded.length, loadMs, plan };
  } finally {
    Deno.removeSync(exportPath);
  }
}

print(`policy start-to-ready, kernel ${Deno.osRelease()}, policies from ${DIR}, ${ROUNDS} rounds`);
if (EMULATED) print("NOTE: emulated kernel (QEMU software emulation): timings are indicative only");
const runs: Run[][] = SETS.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < SETS.length; k++) {
    const i = (r + k) % SETS.length;
    runs[i]!.push(await once(SETS[i]!.args));
  }
}
for (let i = 0; i < SETS.length; i++) {
  const rs = runs[i]!;
  print(
    `${SETS[i]!.label.padEnd(24)} start-to-ready ${
      (median(rs.map((x) => x.readyMs)) / 1000).toFixed(3)
    } s (runs ${rs.map((x) => (x.readyMs / 1000).toFixed(2)).join(" ")}); programs loaded ` +
      `beyond the engine's first: ${rs[0]!.loads}, their load time ${
        (median(rs.map((x) => x.loadMs)) / 1000).toFixed(2)
      } s; policies ${rs[0]!.plan}`,
  );
}
