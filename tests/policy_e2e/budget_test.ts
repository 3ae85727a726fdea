/**
 * The CPU-budget guard on a real workload: policies hooking every syscall (raw_syscalls/sys_enter,
 * unsplittable: the selector does not restrict the syscall id) under a getppid storm exceed their
 * budget (`vigil-cpu-budget`): the observation one is detached within two windows (no events to
 * bucket: its cost is all BPF), with the `policy_throttled` event, the state and the metrics, and
 * re-attached when the storm stops; the enforcement one keeps enforcing and is reported. The
 * budget lies between the hook's cost at rest and under the storm, both measured first by shadow
 * runs on this machine. Explain's stage counters add up. A policy whose cost is user-space work
 * gets the in-kernel token bucket, removed when the load stops. A shadow run's ns per hit matches
 * the real run's (asserted where timings are real, not under emulation).
 *
 * The storm is perl running getppid in a loop from a copy of the perl binary, so the policies'
 * binary filters can tell it apart from every other process on this shared machine.
 */
import assert from "node:assert/strict";
import { missing, requires } from "../_helpers/requires.ts";
import { TIME_SCALE } from "../_helpers/time_scale.ts";
import { PERL, policy, type PolicyAgent } from "./_helpers.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import { startPolicyAgent } from "./_helpers.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** The guard's window in these tests, seconds. */
const WINDOW_S = 1;

function everySyscall(name: string, selector: string, budget: string): string {
  return policy(
    name,
    `  options:
  - name: vigil-cpu-budget
    value: "${budget}"
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4
      type: int64
    selectors:
${selector}`,
  );
}

/** A selector no process matches: every call is filtered, the hook's cost is all BPF. */
function neverRuns(path: string): string {
  return `    - matchBinaries:
      - operator: In
        values: ["${path}"]
`;
}

/** perl copied to `dir/name`: binary filters match it and nothing else. */
async function perlCopy(dir: string, name: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.copyFile(PERL, path);
  await Deno.chmod(path, 0o755);
  return path;
}

/**
 * A getppid storm from `binary` until `stop()`: one process at nice -10, so that on a machine busy
 * with other work (other tests, emulators) it still gets about one CPU, and its cost stands out
 * from the every-syscall hook's cost at rest (which grows with everyone's syscalls), while the
 * other CPU is left to the agent.
 */
function storm(binary: string): { stop: () => Promise<void> } {
  const child = new Deno.Command("nice", {
    args: ["-n", "-10", binary, "-e", "while (1) { getppid() for 1..100000 }"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    stop: async () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

/** GET `path` from the agent's API (with the token); asserts 200 and returns the body. */
async function text(pa: PolicyAgent, path: string): Promise<string> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: pa.agent.api.slice("unix:".length) },
  });
  try {
    const token = (await Deno.readTextFile(pa.agent.tokenFile)).trim();
    const res = await fetch(`http://vigil${path}`, {
      client,
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    return body;
  } finally {
    client.close();
  }
}

/** The guard's lines of `type` for `policy`. */
function guardEvents(pa: PolicyAgent, type: string, name: string) {
  let text = "";
  try {
    text = Deno.readTextFileSync(pa.agent.exportPath);
  } catch {
    return [];
  }
  // Only the guard's lines are parsed: the export holds every process event of the machine, and
  // parsing all of it at each poll costs a CPU under emulation, taken from the agent under test.
  // Whole lines only: the agent may be writing the last one.
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n")
    .filter((line) => line.includes(`"${type}"`))
    .map((line) => JSON.parse(line))
    .filter((e) => e[type]?.policy === name)
    .map((e) => ({ ...e[type], time: e.time }));
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined>,
  ms: number,
): Promise<T> {
  const end = Date.now() + ms * TIME_SCALE;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    // Polls stretched with the time scale: each one takes CPU from the agent under emulation.
    await new Promise((r) => setTimeout(r, 100 * Math.min(TIME_SCALE, 10)));
  }
}

/** The every-syscall hook's BPF share of one CPU over a `seconds` shadow run of `yaml`. */
async function shadowShare(
  pa: PolicyAgent,
  yaml: string,
  seconds: number,
): Promise<number> {
  const report = JSON.parse(
    await post(pa, `/policies?dryRun=shadow&seconds=${seconds}`, yaml),
  )
    .shadow;
  assert.ok(report.hooks[0].hits > 0, JSON.stringify(report));
  return report.bpfShare;
}

/**
 * The budget the ladder test gives its policies: a third of what the every-syscall hook costs
 * under the storm, and at least twice its cost at rest, both measured here by shadow runs.
 * Measured, not assumed: the storm's share is ~5-15% of a CPU on a busy 2-core host and ~50% in
 * an emulated 2-CPU guest, and the cost at rest grows with everyone's syscalls (0.1% in a guest,
 * 0.4-5% on a host shared with emulators). A machine where the storm cannot be told from rest
 * fails here, saying so.
 */
function budgetBetween(rest: number, storm: number): number {
  assert.ok(
    separated(rest, storm),
    `the storm (${storm} of a CPU in BPF) is not clearly above rest (${rest}) after ` +
      `${CALIBRATION_ATTEMPTS} attempts: this machine cannot show a policy going over budget ` +
      `because of the storm`,
  );
  return storm / 3;
}

/** Whether a third of the storm's cost is at least twice the cost at rest. */
function separated(rest: number, storm: number): boolean {
  return storm > 0 && storm / 3 >= 2 * rest;
}

/** Rest and storm readings taken at most this many times. */
const CALIBRATION_ATTEMPTS = 3;

/** Why no function hook (fentry or kprobe) can be attached here, or null. */
const NO_FUNCTION_HOOKS = missing("fentry") === null || missing("kprobe") === null
  ? null
  : `neither fentry nor kprobe here: ${missing("fentry")}; ${missing("kprobe")}`;

/** A function hook on getppid (fentry where the kernel has it) that no process matches. */
function getppidFunction(never: string): string {
  return policy(
    "budget-fn-probe",
    `  kprobes:
  - call: sys_getppid
    syscall: true
    selectors:
${neverRuns(never)}`,
  );
}

/** `share` (a fraction of one CPU) as a vigil-cpu-budget value. */
function percent(share: number): string {
  return `${(share * 100).toPrecision(3)}%`;
}

Deno.test({
  ...requires(
    "budget: under a storm an observation policy is detached and restored, an enforcement one reported and kept",
    ...POLICY_ENGINE_NEEDS,
  ),
  async fn(t) {
    let stormBin = "";
    let victim = "";
    let never = "";
    await using pa = await startPolicyAgent(async (work) => {
      stormBin = await perlCopy(work, "budget-storm");
      victim = await perlCopy(work, "budget-victim");
      never = `${work}/never-runs`;
      return {};
    }, ["--policy-budget-window", String(WINDOW_S)]);
    const probe = everySyscall("budget-probe", neverRuns(never), "6400%");

    let budget = 0;
    let fnShadow: { hooks: { mechanism: string; hits: number; nsPerHit: number }[] } | null = null;
    const calibrated = await t.step(
      "calibrate: the hook's cost at rest and under the storm",
      async () => {
        // The cost at rest follows everyone's syscalls: on a machine shared with other work it
        // jumps for seconds at a time, so a pair of readings too close together is taken again.
        let rest = 0;
        let stormy = 0;
        // No kernel text is patched while the storm runs: an attach or detach that patches a
        // call site the storm executes oopsed an emulated guest (QEMU TCG, 6.1: a NULL call from
        // the int3 patching handler in __do_sys_getppid while the fentry shadow came and went).
        // So an anchor policy keeps the every-syscall program attached across the storm (the
        // shadow's hook joins it), and the function hook is measured under a trickle of getppid.
        for (let attempt = 1; attempt <= CALIBRATION_ATTEMPTS; attempt++) {
          rest = await shadowShare(pa, probe, 1);
          await post(pa, "/policies", everySyscall("budget-anchor", neverRuns(never), "6400%"));
          const s = storm(stormBin);
          try {
            stormy = await shadowShare(pa, probe, 1);
          } finally {
            await s.stop();
          }
          await del(pa, "/policies/budget-anchor");
          // deno-lint-ignore no-console
          console.log(`  attempt ${attempt}: rest ${rest}, storm ${stormy} of a CPU in BPF`);
          if (separated(rest, stormy)) break;
        }
        if (NO_FUNCTION_HOOKS === null) {
          const trickle = new Deno.Command(stormBin, {
            args: ["-e", "while (1) { getppid(); select(undef, undef, undef, 0.01) }"],
            stdout: "null",
            stderr: "null",
          }).spawn();
          try {
            const answer = await post(
              pa,
              "/policies?dryRun=shadow&seconds=1",
              getppidFunction(never),
            );
            fnShadow = JSON.parse(answer).shadow;
          } finally {
            trickle.kill("SIGKILL");
            await trickle.status;
          }
        }
        budget = budgetBetween(rest, stormy);
        // deno-lint-ignore no-console
        console.log(`  budget ${percent(budget)}`);
        assert.equal((await pa.policies()).length, 0, "a shadow run leaves nothing running");
      },
    );
    // Without a budget between rest and storm the other steps would only fail for that reason.
    if (!calibrated) return;

    await t.step({
      name: "a function hook's BPF time is measured too (its program per attach point)" +
        (NO_FUNCTION_HOOKS === null ? "" : ` [IGNORED: ${NO_FUNCTION_HOOKS}]`),
      ignore: NO_FUNCTION_HOOKS !== null,
      fn: () => {
        const report = fnShadow!;
        const hook = report.hooks[0]!;
        assert.match(hook.mechanism, /^(fentry|kprobe) /, JSON.stringify(report));
        // The storm's getppid calls ran it, and the meter found its program's run time.
        assert.ok(hook.hits > 0 && hook.nsPerHit > 0, JSON.stringify(report));
      },
    });

    // Both every-syscall hooks: the second runs another copy of the program (one attach key),
    // so each policy is charged its own copy's run time.
    await post(pa, "/policies", everySyscall("budget-observe", neverRuns(never), percent(budget)));
    const sigkillVictim = `    - matchBinaries:
      - operator: In
        values: ["${victim}"]
      matchActions:
      - action: Sigkill
`;
    await post(pa, "/policies", everySyscall("budget-enforce", sigkillVictim, percent(budget)));

    await t.step("at rest: enabled, with their budget", async () => {
      const s = await until("the guard's first window", async () => {
        const s = await pa.status("budget-observe");
        return s.budget ? s : undefined;
      }, 10_000);
      assert.equal(s.state, "enabled");
      assert.ok(Math.abs(s.budget!.cpuBudget - budget) < budget / 100, JSON.stringify(s.budget));
      assert.equal(s.budget!.enforcing, false);
      // Added after the other: its first window may be the guard's next one.
      const enforce = await until("the guard's first window of budget-enforce", async () => {
        const s = await pa.status("budget-enforce");
        return s.budget ? s : undefined;
      }, 10_000);
      assert.equal(enforce.budget!.enforcing, true);
    });

    await t.step("explain: fired = the sum of the stages", async () => {
      const stats = JSON.parse(await text(pa, "/policies/budget-observe/stats"));
      const c = stats.total;
      const sum = c.filteredByProcess + c.argsRejected + c.rateLimited + c.budgetDropped +
        c.ringFull + c.noPost + c.posted;
      assert.ok(c.fired > 0, JSON.stringify(c));
      // Per-CPU counters are read while hooks run: at most one call in flight per CPU.
      const cpus = navigator.hardwareConcurrency;
      assert.ok(c.fired - sum >= 0 && c.fired - sum <= cpus, JSON.stringify(c));
      // Nothing but the binary filter stops these calls: every stage but that one is empty.
      assert.equal(sum, c.filteredByProcess, JSON.stringify(c));
      const by = stats.hooks[0].filteredBy;
      assert.equal(by.pid + by.namespace + by.capability, 0, JSON.stringify(by));
      assert.ok(Math.abs(by.binary - stats.hooks[0].filteredByProcess) <= cpus, JSON.stringify(by));
    });

    // The storm lasts only until the guard has acted on both policies: under emulation every
    // step is slow, and a storm longer than the cool-down would see the observation policy
    // re-attached and detached again (each time with a doubled cool-down) before it ends.
    const s = storm(stormBin);
    const started = Date.now();
    try {
      await t.step("storm: the observation policy is detached within two windows", async () => {
        assert.equal(
          guardEvents(pa, "policy_throttled", "budget-observe").length,
          0,
          "throttled before the storm: the budget is below the hook's cost at rest",
        );
        const ev = await until("policy_throttled (detached)", () =>
          Promise.resolve(
            guardEvents(pa, "policy_throttled", "budget-observe").find((e) =>
              e.step === "detached"
            ),
          ), 20_000);
        // From the storm's start to the guard's decision (its event's own time).
        const detectedMs = Date.parse(ev.time ?? "") - started;
        // Two windows, plus one for the partial window the storm starts in, plus start-up slack
        // for the storm process and the guard's timer on a loaded machine.
        assert.ok(detectedMs <= 3 * WINDOW_S * 1000 * TIME_SCALE + 2000, `${detectedMs} ms`);
        assert.ok(ev.cpu_used > budget, JSON.stringify(ev));
        assert.match(ev.reason, /over budget/);
      });

      await t.step(
        "storm: the enforcement policy is reported, kept, and keeps enforcing",
        async () => {
          const ev = await until("policy_throttled (reported)", () =>
            Promise.resolve(
              guardEvents(pa, "policy_throttled", "budget-enforce").find((e) =>
                e.step === "reported"
              ),
            ), 20_000);
          assert.equal(ev.enforcing, true);
          assert.equal(ev.state, "over_budget");
          // The status shows the latest window, which the storm keeps over budget; an emulated
          // guest may schedule the storm out for a window, so wait for one over-budget read.
          const status = await until("budget-enforce's status over_budget", async () => {
            const s = await pa.status("budget-enforce");
            return s.budget?.state === "over_budget" ? s : undefined;
          }, 4 * WINDOW_S * 1000);
          assert.equal(status.state, "enabled");
          assert.ok(status.hooks.every((h) => h.attached));
          const out = await new Deno.Command(victim, { args: ["-e", "exit 0"] }).output();
          assert.equal(out.signal, "SIGKILL", `victim ended ${JSON.stringify(out)}`);
        },
      );
    } finally {
      await s.stop();
    }
    const stormEnded = Date.now();

    await t.step("detached: state, reason and metrics until its cool-down ends", async () => {
      // Read once the storm is over: the status may already be back to enabled when the
      // cool-down ended meanwhile (slow machines); the throttled state is then in the past.
      const status = await pa.status("budget-observe");
      const restored = guardEvents(pa, "policy_restored", "budget-observe").length > 0;
      if (status.state === "throttled") {
        assert.match(status.reason ?? "", /over budget/);
        assert.ok(status.hooks.every((h) => !h.attached));
        const metrics = await text(pa, "/metrics");
        assert.match(metrics, /vigil_policy_state\{policy="budget-observe",state="throttled"\} 1/);
        assert.match(metrics, /vigil_policy_cpu_ratio\{policy="budget-observe"\} [0-9.e-]+/);
        assert.match(
          metrics,
          /vigil_policy_budget_state\{policy="budget-observe",state="throttled"\} 1/,
        );
      } else {
        assert.ok(restored, `neither throttled nor restored: ${JSON.stringify(status)}`);
      }
      assert.equal(
        guardEvents(pa, "policy_throttled", "budget-enforce").filter((e) => e.step === "detached")
          .length,
        0,
        "the enforcement policy was detached",
      );
    });

    await t.step("storm over: re-attached after the cool-down, and stays", async () => {
      // The first re-attach that follows the storm (earlier ones fell inside it).
      const ev = await until("policy_restored after the storm", () =>
        Promise.resolve(
          guardEvents(pa, "policy_restored", "budget-observe").find((e) =>
            e.step === "reattached" && Date.parse(e.time ?? "") >= stormEnded
          ),
        ), 30_000);
      assert.equal(ev.state, "ok");
      await new Promise((r) => setTimeout(r, 3 * WINDOW_S * 1000));
      const status = await pa.status("budget-observe");
      assert.equal(status.state, "enabled", JSON.stringify(status));
      assert.ok(status.hooks.every((h) => h.attached));
      const again = guardEvents(pa, "policy_throttled", "budget-observe")
        .filter((e) => Date.parse(e.time ?? "") > Date.parse(ev.time ?? ""));
      assert.equal(again.length, 0, JSON.stringify(again));
    });
  },
});

/** Runs and seconds of the `vigil_policy` program (the tracepoint entry's first copy). */
function policyProgram(metrics: string): { runs: number; seconds: number } {
  const pick = (name: string) => {
    const re = new RegExp(
      `^${name}\\{[^}]*program="vigil_policy"[^}]*\\} ([0-9.e+-]+)$`,
      "m",
    );
    const m = re.exec(metrics);
    if (!m) throw new Error(`no ${name} for vigil_policy in /metrics`);
    return Number(m[1]);
  };
  return {
    runs: pick("vigil_bpf_program_runs_total"),
    seconds: pick("vigil_bpf_program_run_time_seconds_total"),
  };
}

/**
 * Why timing margins cannot be asserted on this kernel, or null: in the kernel lab the guest runs
 * under emulation (VIGIL_TEST_TIME_SCALE > 1), where two runs a few seconds apart differ by 3x and
 * more (QEMU translates the freshly loaded program, other guests share the host's cores).
 */
const TIMING_UNRELIABLE = TIME_SCALE > 1
  ? `emulated kernel (VIGIL_TEST_TIME_SCALE=${TIME_SCALE}): timings are indicative only`
  : null;

/** {@link requires}, and ignored with the reason where timings are not real. */
function requiresRealTiming(name: string, what: string): { name: string; ignore: boolean } {
  const gate = requires(name, ...POLICY_ENGINE_NEEDS);
  if (gate.ignore || TIMING_UNRELIABLE === null) return gate;
  return { name: `${name} [IGNORED: ${TIMING_UNRELIABLE}, so ${what}]`, ignore: true };
}

Deno.test({
  ...requiresRealTiming(
    "budget: a shadow run's ns per hit agrees with the real run's",
    "the shadow-vs-real margin is asserted on real CPUs",
  ),
  async fn() {
    let stormBin = "";
    let never = "";
    await using pa = await startPolicyAgent(async (work) => {
      stormBin = await perlCopy(work, "budget-storm3");
      never = `${work}/never-runs`;
      return {};
    }, ["--policy-budget-window", String(WINDOW_S)]);
    const yaml = everySyscall("budget-shadow", neverRuns(never), "6400%");
    const s = storm(stormBin);
    try {
      const shadow = JSON.parse(
        await post(pa, "/policies?dryRun=shadow&seconds=3", yaml),
      ).shadow;
      assert.equal(shadow.policy, "budget-shadow");
      assert.equal(
        (await pa.policies()).length,
        0,
        "a shadow run leaves nothing running",
      );
      const shadowNs = shadow.hooks[0].nsPerHit;

      // The CLI's preflight: exit 4 when the projection exceeds the policy's budget, else 0.
      const file = `${pa.work}/shadow.yaml`;
      const cli = async (budget: string) => {
        await Deno.writeTextFile(
          file,
          yaml.replace('value: "6400%"', `value: "${budget}"`),
        );
        return await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-all",
            // Type checking is `deno task check`'s job.
            "--no-check",
            MAIN,
            "policy",
            "plan",
            file,
            "--shadow",
            "1s",
            "--api",
            pa.agent.api,
            "--api-token-file",
            pa.agent.tokenFile,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
      };
      const over = await cli("0.001%");
      const overText = new TextDecoder().decode(over.stdout);
      assert.equal(
        over.code,
        4,
        overText + new TextDecoder().decode(over.stderr),
      );
      assert.match(overText, /hits\/s.*ns\/hit/);
      assert.match(overText, /OVER BUDGET/);
      const fits = await cli("6400%");
      assert.equal(fits.code, 0, new TextDecoder().decode(fits.stderr));
      assert.ok(shadow.hooks[0].hitsPerSec > 1000, JSON.stringify(shadow));
      assert.equal(shadow.hooks[0].matches, 0);

      JSON.parse(await post(pa, "/policies", yaml));
      await new Promise((r) => setTimeout(r, 500));
      const a = policyProgram(await text(pa, "/metrics"));
      await new Promise((r) => setTimeout(r, 3000));
      const b = policyProgram(await text(pa, "/metrics"));
      const realNs = (b.seconds - a.seconds) * 1e9 / (b.runs - a.runs);
      const ratio = shadowNs / realNs;
      // The margin we claim: within a factor of 2 on a loaded 2-core machine (see README).
      assert.ok(
        ratio > 0.5 && ratio < 2,
        `shadow ${shadowNs} ns/hit vs real ${realNs.toFixed(1)} ns/hit (ratio ${ratio})`,
      );
    } finally {
      await s.stop();
    }
  },
});

/** DELETE `path` (with the token); asserts 200. */
async function del(pa: PolicyAgent, path: string): Promise<void> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: pa.agent.api.slice("unix:".length) },
  });
  try {
    const token = (await Deno.readTextFile(pa.agent.tokenFile)).trim();
    const res = await fetch(`http://vigil${path}`, {
      method: "DELETE",
      client,
      headers: { authorization: `Bearer ${token}` },
    });
    const answer = await res.text();
    assert.equal(res.status, 200, answer);
  } finally {
    client.close();
  }
}

/** POST `body` to `path` (with the token); asserts 200 and returns the answer. */
async function post(
  pa: PolicyAgent,
  path: string,
  body: string,
): Promise<string> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: pa.agent.api.slice("unix:".length) },
  });
  try {
    const token = (await Deno.readTextFile(pa.agent.tokenFile)).trim();
    const res = await fetch(`http://vigil${path}`, {
      method: "POST",
      client,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/yaml",
      },
      body,
    });
    const answer = await res.text();
    assert.equal(res.status, 200, answer);
    return answer;
  } finally {
    client.close();
  }
}

Deno.test({
  // The bucket is the guard's answer to a cost that is mostly the agent's user-space time; how
  // much a few thousand posts a second cost depends on the CPU's speed, which under emulation
  // varies 3x and more with the other guests on the host (lab runs of the same step passed
  // alone and failed side by side).
  ...requiresRealTiming(
    "budget: user-space cost gets the in-kernel token bucket, removed when load stops",
    "whether a few thousand posts a second exceed a 1% budget is asserted on real CPUs",
  ),
  async fn(t) {
    let stormBin = "";
    await using pa = await startPolicyAgent(async (work) => {
      stormBin = await perlCopy(work, "budget-poster");
      return {
        "post.yaml": policy(
          "budget-post",
          `  options:
  - name: vigil-cpu-budget
    value: "1%"
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_getppid
    selectors:
    - matchBinaries:
      - operator: In
        values: ["${work}/budget-poster"]
`,
        ),
      };
    }, ["--policy-budget-window", String(WINDOW_S)]);

    // A few thousand posts a second: cheap in BPF (one syscall's tracepoint), dear in user space.
    // Fewer where the agent is slower (emulation): as dear, and no minutes-long backlog in the
    // ring (4 MiB of events) that would keep the policy over budget long after the load stops.
    const PAUSE_S = 0.001 * TIME_SCALE;
    const child = new Deno.Command(stormBin, {
      args: [
        "-e",
        `for (1..30000) { getppid() for 1..5; select(undef, undef, undef, ${PAUSE_S}) }`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await t.step(
        "bucketed: posts limited, drops counted, stages add up",
        async () => {
          const ev = await until(
            "policy_throttled (token_bucket)",
            () =>
              Promise.resolve(
                guardEvents(pa, "policy_throttled", "budget-post").find((e) =>
                  e.step === "token_bucket"
                ),
              ),
            20_000,
          );
          assert.ok(ev.posts_per_sec > 0, JSON.stringify(ev));
          const dropped = await until("budget-dropped calls", async () => {
            const stats = JSON.parse(
              await text(pa, "/policies/budget-post/stats"),
            );
            return stats.total.budgetDropped > 0 ? stats : undefined;
          }, 10_000);
          const c = dropped.total;
          const sum = c.filteredByProcess + c.argsRejected + c.rateLimited + c.budgetDropped +
            c.ringFull + c.noPost + c.posted;
          const inFlight = c.fired - sum;
          assert.ok(inFlight >= 0 && inFlight <= navigator.hardwareConcurrency, JSON.stringify(c));
        },
      );
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    }
    const loadEnded = Date.now();

    await t.step("load gone: the bucket is removed", async () => {
      const ev = await until("policy_restored after the load", () =>
        Promise.resolve(
          guardEvents(pa, "policy_restored", "budget-post").find((e) =>
            (e.step === "bucket_removed" || e.step === "reattached") &&
            Date.parse(e.time ?? "") >= loadEnded
          ),
        ), 20_000);
      assert.equal(ev.state, "ok");
      const status = await pa.status("budget-post");
      assert.equal(status.state, "enabled");
    });
  },
});
