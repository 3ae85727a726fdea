/**
 * The CPU-budget guard, end to end: a policy hooking every syscall (raw_syscalls/sys_enter, not
 * splittable: its binary filter matches nothing, so every call is pure BPF cost) under a getppid
 * storm, with a small budget (`vigil-cpu-budget`, default 3%) and a 1 s window. One agent, one
 * run; per round:
 *
 * 1. floor: the getppid loop (bench/c/getppid_loop.c, in chunks) with no policy loaded;
 * 2. "during": the policy is added over the API with a budget it never exceeds (6400%), so the
 *    guard leaves it attached: the storm's cost with the policy;
 * 3. the policy is replaced by its small-budget version and the storm starts: the chunks after the
 *    guard detached it are "after" (the chunk the detach fell in is left out);
 * 4. the storm stops; the time until the guard re-attaches the policy is measured; the policy is
 *    deleted for the next round.
 *
 * Prints median ns/call per phase and its ratio to the floor (medians over rounds), and the
 * detection time (storm start → the guard's policy_throttled event).
 *
 * Run: `deno run --allow-all bench/policy_budget.ts [--rounds R] [--chunk N] [--budget PCT]`
 *
 * @module
 */
import {
  compileC,
  ensureTracefs,
  fmt,
  hostActivity,
  keyValues,
  machineLine,
  median,
  parseFlags,
  print,
  run,
  sleep,
} from "./_lib.ts";
import { PolicyAgent } from "./_policy_lib.ts";

const USAGE = `usage: deno run --allow-all bench/policy_budget.ts [options]
  --rounds R     rounds (default 3)
  --chunk N      getppid calls per measured chunk (default 200000)
  --budget PCT   the policy's budget, percent of one CPU (default 3)`;

const flags = parseFlags(Deno.args, { rounds: "number", chunk: "number", budget: "number" }, USAGE);
const ROUNDS = (flags["rounds"] as number | undefined) ?? 3;
const CHUNK = (flags["chunk"] as number | undefined) ?? 200_000;
const BUDGET = (flags["budget"] as number | undefined) ?? 3;
const NAME = "bench-every-syscall";

const policyWith = (budget: number) =>
  `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${NAME}
spec:
  options:
  - name: vigil-cpu-budget
    value: "${budget}%"
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4
      type: int64
    selectors:
    - matchBinaries:
      - operator: In
        values: ["/nonexistent/vigil-bench-never-runs"]
`;

print(`vigil bench: CPU-budget guard, getppid storm (${machineLine()})`);
print(
  `policy: raw_syscalls/sys_enter, every syscall, budget ${BUDGET}% of one CPU, window 1 s; ` +
    `${CHUNK} calls per chunk, ${ROUNDS} rounds`,
);
print(await hostActivity());

const c = await compileC(["getppid_loop"]);
const unmountTracefs = await ensureTracefs();
const agent = await PolicyAgent.start(null, ["--policy-budget-window", "1"]);
// --policy-dir "" : the API holds the policy in memory.
const client = Deno.createHttpClient({
  proxy: { transport: "unix", path: `${agent.dir}/api.sock` },
});
const token = () => Deno.readTextFileSync(`${agent.dir}/api-token`).trim();

async function call(method: string, path: string, body?: string): Promise<unknown> {
  const res = await fetch(`http://vigil${path}`, {
    method,
    client,
    headers: { authorization: `Bearer ${token()}` },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function state(): Promise<string> {
  const body = await call("GET", "/policies") as { policies: { name: string; state: string }[] };
  return body.policies.find((p) => p.name === NAME)?.state ?? "absent";
}

/** The guard's events for the policy in the export so far. */
function guardEvents(type: string): { time: string; step: string }[] {
  let text = "";
  try {
    text = Deno.readTextFileSync(agent.exportPath);
  } catch { /* not yet */ }
  const out: { time: string; step: string }[] = [];
  // Whole lines only: the agent may be writing the last one.
  for (const line of text.slice(0, text.lastIndexOf("\n") + 1).split("\n")) {
    if (!line.includes(type) || !line.includes(NAME)) continue;
    const e = JSON.parse(line);
    out.push({ time: e.time, step: e[type].step });
  }
  return out;
}

const chunk = async () =>
  keyValues(await run(c.path("getppid_loop"), ["count", String(CHUNK), "-1"]))["ns_per_call"]!;

/** Runs and seconds of the `vigil_policy` program, from /metrics. */
async function policyProgram(): Promise<{ runs: number; seconds: number }> {
  const res = await fetch("http://vigil/metrics", {
    client,
    headers: { authorization: `Bearer ${token()}` },
  });
  const text = await res.text();
  const pick = (name: string) => {
    const re = new RegExp(`^${name}\\{[^}]*program="vigil_policy"[^}]*\\} ([0-9.e+-]+)$`, "m");
    return Number(re.exec(text)?.[1] ?? NaN);
  };
  return {
    runs: pick("vigil_bpf_program_runs_total"),
    seconds: pick("vigil_bpf_program_run_time_seconds_total"),
  };
}

/** Shadow run vs real run of the policy under one background storm: BPF ns per hit of each. */
async function shadowVsReal(): Promise<{ shadow: number; real: number; projected: number }> {
  const bg = new Deno.Command(c.path("getppid_loop"), {
    args: ["timed", "9", "0", "-1"],
    stdin: "piped",
    stdout: "null",
  }).spawn();
  const w = bg.stdin.getWriter();
  await w.write(new TextEncoder().encode("go\n"));
  await w.close();
  try {
    const answer = await call("POST", "/policies?dryRun=shadow&seconds=3", policyWith(6400)) as {
      shadow: { hooks: { nsPerHit: number }[]; projectedShare: number };
    };
    await call("POST", "/policies", policyWith(6400));
    await sleep(300);
    const a = await policyProgram();
    await sleep(3000);
    const b = await policyProgram();
    await call("DELETE", `/policies/${NAME}`);
    return {
      shadow: answer.shadow.hooks[0]!.nsPerHit,
      real: (b.seconds - a.seconds) * 1e9 / (b.runs - a.runs),
      projected: answer.shadow.projectedShare,
    };
  } finally {
    await bg.status;
  }
}

const shadowRatios: number[] = [];
const floor: number[] = [];
const during: number[] = [];
const after: number[] = [];
const detectMs: number[] = [];
const restoreMs: number[] = [];
try {
  await chunk(); // warm-up
  for (let round = 1; round <= ROUNDS; round++) {
    const sv = await shadowVsReal();
    shadowRatios.push(sv.shadow / sv.real);
    print(
      `round ${round}: shadow ${fmt(sv.shadow)} ns/hit vs real ${fmt(sv.real)} ns/hit ` +
        `(ratio ${fmt(sv.shadow / sv.real)}); shadow projected ${
          fmt(sv.projected * 100)
        }% of a CPU`,
    );
    const f: number[] = [];
    for (let i = 0; i < 3; i++) f.push(await chunk());
    floor.push(median(f));

    // The policy's cost on the storm, with a budget it never exceeds (the guard stays out).
    await call("POST", "/policies", policyWith(6400));
    await sleep(500);
    const d: number[] = [];
    for (let i = 0; i < 3; i++) d.push(await chunk());
    await call("DELETE", `/policies/${NAME}`);

    await call("POST", "/policies", policyWith(BUDGET));
    await sleep(1500); // the guard's baseline window
    const seen = guardEvents("policy_throttled").length;
    const started = Date.now();
    const a: number[] = [];
    let detached = 0;
    while (Date.now() - started < 30_000) {
      const ns = await chunk();
      const s = await state();
      if (s === "throttled") {
        if (detached++ > 0) a.push(ns); // the chunk the detach fell in is mixed: left out
        if (a.length >= 3) break;
      }
    }
    const ev = guardEvents("policy_throttled").slice(seen).find((e) => e.step === "detached");
    if (ev) detectMs.push(Date.parse(ev.time) - started);
    const stopped = Date.now();
    const restoredBefore = guardEvents("policy_restored").length;
    while (Date.now() - stopped < 60_000) {
      if (guardEvents("policy_restored").length > restoredBefore) break;
      await sleep(200);
    }
    const restored = guardEvents("policy_restored").slice(restoredBefore)[0];
    if (restored) restoreMs.push(Date.parse(restored.time) - stopped);
    if (d.length) during.push(median(d));
    if (a.length) after.push(median(a));
    print(
      `round ${round}: floor ${fmt(median(f))} ns/call; during ${
        d.length ? fmt(median(d)) : "-"
      } (${d.length} chunks); after ${a.length ? fmt(median(a)) : "-"} (${a.length} chunks); ` +
        `detached ${ev ? `${Date.parse(ev.time) - started} ms` : "never"} after the storm ` +
        `started; re-attached ${restored ? `${Date.parse(restored.time) - stopped} ms` : "never"}` +
        ` after it stopped`,
    );
    await call("DELETE", `/policies/${NAME}`);
  }
} finally {
  client.close();
  await agent.stop();
  agent.remove();
  await unmountTracefs();
  c.close();
}

const fl = median(floor);
print("");
print("phase                                   ns/call   ratio to floor");
print(`floor (agent, no policy)                ${fmt(fl, 1, 8)}   1.00x`);
if (during.length) {
  print(
    `during (attached, guard kept out)      ${fmt(median(during), 1, 8)}   ${
      fmt(median(during) / fl)
    }x`,
  );
}
if (after.length) {
  print(
    `after (guard detached it)              ${fmt(median(after), 1, 8)}   ${
      fmt(median(after) / fl)
    }x`,
  );
}
print(
  `detection (storm start → detached): median ${detectMs.length ? median(detectMs) : "-"} ms ` +
    `[${detectMs.join(", ")}]; re-attach after the storm stopped: median ${
      restoreMs.length ? median(restoreMs) : "-"
    } ms [${restoreMs.join(", ")}]`,
);
print(
  `shadow vs real BPF ns per hit: median ratio ${
    shadowRatios.length ? fmt(median(shadowRatios)) : "-"
  } [${shadowRatios.map((r) => fmt(r)).join(", ")}]`,
);
print("medians over rounds; the machine is shared with other work: ratios are noisy");
