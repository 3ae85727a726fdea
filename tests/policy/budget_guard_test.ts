/**
 * The budget guard's ladder, driven window by window with scripted kernel readings (the real
 * thing under a real storm is tests/policy_e2e/budget_test.ts): each step, its event, and the way
 * back; enforcement policies are reported, never detached; the meter splits a shared program's
 * run time by the hooks' calls. Also `vigil-cpu-budget` and `--policy-cpu-budget` values.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../../src/log/logger.ts";
import type { BudgetSubject } from "../../src/policy/manager.ts";
import { BudgetGuard, type GuardedPolicies } from "../../src/policy/runtime/budget_guard.ts";
import { BudgetMeter, type MeterSource } from "../../src/policy/runtime/budget_meter.ts";
import { PolicyUserTime } from "../../src/policy/runtime/user_time.ts";
import type { HookCounters } from "../../src/policy/engine.ts";
import { parseCpuShare } from "../../src/policy/vocab/cpu_share.ts";
import { parsePolicy } from "../../src/policy/spec/parse.ts";

function counters(seen: number, extra: Partial<HookCounters> = {}): HookCounters {
  return {
    seen,
    posted: 0,
    filtered: 0,
    rateLimited: 0,
    signals: 0,
    monitorSkipped: 0,
    drops: 0,
    argsRejected: 0,
    budgetDropped: 0,
    noPost: 0,
    shadowMatched: 0,
    filteredBy: { pid: 0, namespace: 0, capability: 0, binary: 0 },
    ...extra,
  };
}

/** One policy with one hook (id 1) on program fd 10, whose run time the test sets. */
class World implements GuardedPolicies, MeterSource {
  state: "enabled" | "throttled" = "enabled";
  postsPerSec = 0;
  runNs = 0n;
  seen = 0;
  calls: string[] = [];
  constructor(readonly enforcing: boolean) {}
  budgetSubjects(): BudgetSubject[] {
    return [{
      name: "p",
      state: this.state,
      hookIds: this.state === "enabled" ? [1] : [],
      enforcing: this.enforcing,
      postsPerSec: this.postsPerSec,
    }];
  }
  setPostBudget(_: string, pps: number) {
    this.calls.push(`bucket ${pps}`);
    this.postsPerSec = pps;
    return Promise.resolve(true);
  }
  throttle() {
    this.calls.push("throttle");
    this.state = "throttled";
    return Promise.resolve(true);
  }
  restore() {
    this.calls.push("restore");
    this.state = "enabled";
    return Promise.resolve(true);
  }
  hookProgramFd(id: number) {
    return id === 1 && this.state === "enabled" ? 10 : undefined;
  }
  counters() {
    return counters(this.seen);
  }
  runTimeNs() {
    return this.runNs;
  }
  programFds() {
    return [10];
  }
}

function guardOf(world: World, userTime = new PolicyUserTime()) {
  const events: Record<string, unknown>[] = [];
  const guard = new BudgetGuard({
    policies: world,
    source: () => world,
    userTime,
    emit: (_type, line) => events.push(JSON.parse(line)),
    logger: silentLogger,
    nodeName: "n",
    defaultBudget: 0.05,
    // Long window: the test ticks by hand; a window's share is BPF ns over real elapsed time.
    windowMs: 1000,
    detachEnforcing: false,
  });
  return { guard, events };
}

/** Advances the world by one window costing `bpfShare` of a CPU over `ms` of real time. */
async function window(world: World, bpfShare: number, ms = 50): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  world.runNs += BigInt(Math.round(bpfShare * ms * 1e6));
  world.seen += 1000;
}

Deno.test("an observation policy whose BPF time is over budget is detached, then re-attached", async () => {
  const world = new World(false);
  const { guard, events } = guardOf(world);
  await guard.tick(); // baseline
  await window(world, 0.01);
  await guard.tick();
  assert.equal(guard.status("p")?.state, "ok");
  await window(world, 0.5);
  await guard.tick();
  assert.deepEqual(world.calls, ["throttle"], "no events to bucket: straight to detach");
  assert.equal(guard.status("p")?.state, "throttled");
  const ev = events.at(-1)!.policy_throttled as Record<string, unknown>;
  assert.equal(ev.step, "detached");
  assert.match(String(ev.reason), /over budget/);
  for (let i = 0; i < 3; i++) await guard.tick(); // cool-down: 3 windows
  assert.deepEqual(world.calls, ["throttle", "restore"]);
  assert.equal((events.at(-1)!.policy_restored as Record<string, unknown>).step, "reattached");
  // Over again right after the re-attach: detached at once, with a doubled cool-down.
  await window(world, 0.5);
  await guard.tick();
  assert.deepEqual(world.calls, ["throttle", "restore", "throttle"]);
  const again = events.at(-1)!.policy_throttled as Record<string, unknown>;
  assert.equal(again.cooldown_seconds, 6);
  guard.close();
});

Deno.test("user-space cost first gets a token bucket; it is removed when the demand fits", async () => {
  const world = new World(false);
  const userTime = new PolicyUserTime();
  const { guard, events } = guardOf(world, userTime);
  await guard.tick();
  await window(world, 0.01);
  for (let i = 0; i < 100; i++) userTime.add("p", 300_000); // 30 ms of user time in 50 ms
  await guard.tick();
  assert.equal(world.calls.length, 1);
  assert.match(world.calls[0]!, /^bucket \d+$/);
  assert.equal(guard.status("p")?.state, "bucketed");
  assert.equal((events.at(-1)!.policy_throttled as Record<string, unknown>).step, "token_bucket");
  await window(world, 0.01);
  await guard.tick(); // quiet: demand 1% of a CPU fits in 80% of 5%
  assert.deepEqual(world.calls.slice(1), ["bucket 0"]);
  assert.equal(guard.status("p")?.state, "ok");
  assert.equal((events.at(-1)!.policy_restored as Record<string, unknown>).step, "bucket_removed");
  guard.close();
});

Deno.test("an enforcement policy over budget is reported, never detached", async () => {
  const world = new World(true);
  const { guard, events } = guardOf(world);
  await guard.tick();
  for (let i = 0; i < 4; i++) {
    await window(world, 0.5);
    await guard.tick();
  }
  assert.deepEqual(world.calls, []);
  assert.equal(guard.status("p")?.state, "over_budget");
  const reported = events.filter((e) => e.policy_throttled);
  assert.equal(reported.length, 1, "one event per episode");
  assert.equal((reported[0]!.policy_throttled as Record<string, unknown>).step, "reported");
  await window(world, 0.001);
  await guard.tick();
  assert.equal(guard.status("p")?.state, "ok");
  guard.close();
});

Deno.test("a shadow run's calls on a program shared with a policy are not charged to it", async () => {
  // Hook 1 (the policy) and hook 2 (a shadow run) on program 10: the shadow makes 99% of the calls.
  const world = new World(false);
  let shadowSeen = 0;
  const shared: MeterSource = {
    hookProgramFd: (id) => (id === 1 || id === 2 ? 10 : undefined),
    counters: (id) => counters(id === 2 ? shadowSeen : world.seen),
    runTimeNs: () => world.runNs,
    programFds: () => [10],
  };
  const policies: GuardedPolicies = {
    budgetSubjects: () => world.budgetSubjects(),
    shadowHookIds: () => [2],
    setPostBudget: (n, pps) => world.setPostBudget(n, pps),
    throttle: () => world.throttle(),
    restore: () => world.restore(),
  };
  const guard = new BudgetGuard({
    policies,
    source: () => shared,
    userTime: new PolicyUserTime(),
    emit: () => {},
    logger: silentLogger,
    nodeName: "n",
    defaultBudget: 0.05,
    windowMs: 1000,
    detachEnforcing: false,
  });
  await guard.tick();
  await window(world, 0.5); // 50% of a CPU on the program, 1000 calls of hook 1 ...
  shadowSeen += 99_000; // ... and 99000 of the shadow's
  await guard.tick();
  assert.deepEqual(world.calls, [], "the policy was charged the shadow's run time");
  assert.ok(guard.status("p")!.bpfUsed < 0.05, JSON.stringify(guard.status("p")));
  guard.close();
});

Deno.test("the meter splits a shared program's run time by each hook's calls", () => {
  const seen = new Map([[1, 0], [2, 0]]);
  let run = 0n;
  const src: MeterSource = {
    hookProgramFd: () => 10,
    counters: (id) => counters(seen.get(id)!),
    runTimeNs: () => run,
    programFds: () => [10],
  };
  const meter = new BudgetMeter(src);
  const hooks = new Map([["a", [1]], ["b", [2]]]);
  meter.sample(hooks);
  seen.set(1, 300);
  seen.set(2, 100);
  run = 4000n;
  const use = meter.sample(hooks);
  assert.equal(use.get("a")!.bpfNs, 3000);
  assert.equal(use.get("b")!.bpfNs, 1000);
  assert.equal(use.get("a")!.fired, 300);
});

Deno.test("CPU shares: 5% and 0.5% parse, nonsense is refused with the reason", () => {
  assert.equal(parseCpuShare("5%"), 0.05);
  assert.equal(parseCpuShare("0.5%"), 0.005);
  assert.match(String(parseCpuShare("5")), /not a CPU share/);
  assert.match(String(parseCpuShare("0%")), /above 0%/);
  assert.match(String(parseCpuShare("99999%")), /at most/);
});

Deno.test("vigil-cpu-budget is read from spec.options; a bad value is an error at its line", () => {
  const yaml = (v: string) =>
    `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: b
spec:
  options:
  - name: vigil-cpu-budget
    value: "${v}"
  tracepoints:
  - subsystem: sched
    event: sched_process_exec
`;
  assert.equal(parsePolicy(yaml("2%"), "b.yaml").policy?.spec.options.cpuBudget, 0.02);
  const bad = parsePolicy(yaml("lots"), "b.yaml");
  assert.equal(bad.policy, undefined);
  assert.match(bad.errors[0]!.message, /vigil-cpu-budget/);
  assert.equal(bad.errors[0]!.line, 8);
});
