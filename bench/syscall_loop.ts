/**
 * Unrelated-syscall loop: a C program calls getppid(2) N times in a tight loop (pinned to one
 * CPU) and reports ns/call. Conditions, interleaved round by round:
 * - no agent (baseline);
 * - the agent running (`main.ts run --export FILE`): it hooks only sched tp_btf tracepoints, so
 *   this should cost nothing;
 * - side by side, bare BPF programs (they return at once) from bpf/bench.bpf.c on syscall
 *   tracepoints, the slow path the agent avoids: `tracepoint/syscalls/sys_enter_unlinkat` (a
 *   syscall the loop never makes), `tracepoint/syscalls/sys_enter_getppid` (the one it makes) and
 *   `tp_btf/sys_enter` (raw syscall tracepoint).
 *
 * Mounts tracefs at /sys/kernel/tracing if absent (classic tracepoint attach needs it) and
 * unmounts it again. Numbers only, no assertions.
 *
 * Run: `deno run --allow-all bench/syscall_loop.ts [--calls N] [--rounds R] [--cpu C]`
 *
 * @module
 */
import { openBpfRuntime } from "../src/bpf/runtime.ts";
import type { BpfObject } from "../src/bpf/object.ts";
import { silentLogger } from "../src/log/logger.ts";
import {
  agentArgsText,
  AgentProcess,
  compileC,
  ensureTracefs,
  fmt,
  foreignSyscallHooks,
  hostActivity,
  keyValues,
  loadBenchObject,
  machineLine,
  median,
  onlineCpus,
  parseFlags,
  print,
  run,
  sleep,
} from "./_lib.ts";

const USAGE = `usage: deno run --allow-all bench/syscall_loop.ts [options]
  --calls N    getppid calls per run (default 5000000)
  --rounds R   rounds; each runs every condition once (default 7)
  --cpu C      pin the loop to CPU C; -1 = unpinned (default 1 on >= 2 CPUs)
  --no-bpf     skip the bare-BPF comparison (no tracefs mount)
  --policies   add a condition: the agent with the example TracingPolicies of policies/`;

const flags = parseFlags(Deno.args, {
  calls: "number",
  rounds: "number",
  cpu: "number",
  "no-bpf": "boolean",
  policies: "boolean",
}, USAGE);
const CALLS = (flags["calls"] as number | undefined) ?? 5_000_000;
const ROUNDS = (flags["rounds"] as number | undefined) ?? 7;
const CPU = (flags["cpu"] as number | undefined) ?? (onlineCpus() >= 2 ? 1 : -1);
const WITH_BPF = flags["no-bpf"] !== true;
const WITH_POLICIES = flags["policies"] === true;
const TARGET = 1.02;

interface Condition {
  readonly label: string;
  readonly note: string;
  /** Sets the condition up; returns its teardown. */
  readonly setUp: () => Promise<() => Promise<void>>;
}

async function loop(binary: string): Promise<number> {
  return keyValues(await run(binary, ["count", String(CALLS), String(CPU)]))["ns_per_call"]!;
}

print(`vigil bench: getppid loop (${machineLine()})`);
print(
  `${CALLS} getppid calls per run, ${CPU >= 0 ? `pinned to CPU ${CPU}` : "unpinned"}, ` +
    `${ROUNDS} rounds, conditions interleaved in each round; median ns/call`,
);
print(await hostActivity());
const c = await compileC(["getppid_loop"]);
const dir = Deno.makeTempDirSync({ prefix: "vigil_bench_syscall_" });
let unmountTracefs: (() => Promise<void>) | null = null;
const rt = WITH_BPF ? openBpfRuntime({ useHostLibbpf: false, logger: silentLogger }) : null;
let object: BpfObject | null = null;
try {
  const binary = c.path("getppid_loop");
  const agentDrops: number[] = [];
  const conditions: Condition[] = [
    { label: "no agent", note: "baseline", setUp: () => Promise.resolve(async () => {}) },
    {
      label: "vigil agent running",
      note: `target <= ${TARGET}x; main.ts run --export FILE ${agentArgsText()}`,
      setUp: async () => {
        const { agent } = await AgentProcess.start(`${dir}/events.json`);
        await sleep(300); // past the start-up work (seeding, first GC)
        return async () => {
          agentDrops.push((await agent.stop()).kernelDrops);
          Deno.removeSync(`${dir}/events.json`);
        };
      },
    },
  ];
  if (WITH_POLICIES) {
    const args = ["--listen", ""]; // policies/ as the agent loads it by default
    conditions.push({
      label: "vigil agent + example policies/",
      note: `not issue 2's target: the examples hook syscall tracepoints; ${agentArgsText(args)}`,
      setUp: async () => {
        const { agent } = await AgentProcess.start(`${dir}/events.json`, args);
        await sleep(300);
        return async () => {
          await agent.stop();
          Deno.removeSync(`${dir}/events.json`);
        };
      },
    });
  }
  if (rt) {
    unmountTracefs = await ensureTracefs();
    object = loadBenchObject(rt, ["bench_tp_unlinkat", "bench_tp_getppid", "bench_raw_sys_enter"], {
      maxEntries: { bench_events: 4096 },
    });
    const loaded = object;
    const bare = (program: string, label: string, note: string): Condition => ({
      label,
      note,
      setUp: () => {
        const link = loaded.attach(program);
        return Promise.resolve(() => {
          link.close();
          return Promise.resolve();
        });
      },
    });
    conditions.push(
      bare(
        "bench_tp_unlinkat",
        "bare BPF on tracepoint/syscalls/sys_enter_unlinkat",
        "a syscall the loop never makes",
      ),
      bare(
        "bench_tp_getppid",
        "bare BPF on tracepoint/syscalls/sys_enter_getppid",
        "runs on every call",
      ),
      bare("bench_raw_sys_enter", "bare BPF on tp_btf/sys_enter", "runs on every syscall"),
    );
  }

  const hooksBefore = await foreignSyscallHooks();
  if (hooksBefore.length > 0) {
    print(
      `WARNING: other processes have BPF on syscall tracepoints, so every syscall (the baseline ` +
        `too) takes the slow path and the ratios understate the cost: ${hooksBefore.join("; ")}`,
    );
  }
  await loop(binary); // warm-up
  const results: number[][] = conditions.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    const row: string[] = [];
    for (let i = 0; i < conditions.length; i++) {
      const teardown = await conditions[i]!.setUp();
      try {
        results[i]!.push(await loop(binary));
      } finally {
        await teardown();
      }
      row.push(fmt(results[i]![r]!, 1));
    }
    print(`  round ${r + 1}: ${row.join("  ")} ns/call`);
  }
  print("");
  const base = median(results[0]!);
  const width = Math.max(...conditions.map((x) => x.label.length));
  for (let i = 0; i < conditions.length; i++) {
    const perRound = results[i]!.map((x, r) => x / results[0]![r]!);
    const cond = conditions[i]!;
    print(
      `${cond.label.padEnd(width)}  ${fmt(median(results[i]!), 1, 7)} ns/call  ` +
        `${fmt(median(results[i]!) / base, 3)}x  (fastest run ` +
        `${fmt(Math.min(...results[i]!) / Math.min(...results[0]!), 3)}x)` +
        (i === 0 ? "" : `  (per-round ${perRound.map((x) => fmt(x, 3)).join(" ")})`) +
        `  ${cond.note}`,
    );
  }
  print(
    `reference measured here before: execsnoop (sys_enter_execve) made this loop 1.36x slower; ` +
      `bare syscall-tracepoint programs 1.26x-1.36x`,
  );
  print(`agent kernel drops per run: ${agentDrops.join(", ")}`);
  const hooksAfter = await foreignSyscallHooks();
  if (hooksAfter.length > 0) {
    print(`WARNING at the end: other processes' syscall-tracepoint BPF: ${hooksAfter.join("; ")}`);
  }
} finally {
  object?.close();
  rt?.close();
  if (unmountTracefs) await unmountTracefs();
  c.close();
  Deno.removeSync(dir, { recursive: true });
}
