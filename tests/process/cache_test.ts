import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { ProcessCache } from "../../src/process/cache.ts";
import { execId } from "../../src/process/exec_id.ts";
import type { ProcessInit } from "../../src/process/types.ts";

const NODE = "test-node";

function proc(
  pid: number,
  ktime: bigint,
  parent?: { pid: number; ktime: bigint },
  flags: string[] = ["execve"],
): ProcessInit {
  return {
    pid,
    tid: pid,
    ktime,
    execId: execId(NODE, ktime, pid),
    parentPid: parent?.pid ?? 0,
    parentKtime: parent?.ktime ?? 0n,
    parentExecId: parent ? execId(NODE, parent.ktime, parent.pid) : "",
    binary: "/bin/true",
    arguments: "",
    cwd: "/",
    uid: 0,
    auid: 4294967295,
    flags,
    startTime: "2026-01-01T00:00:00.000000000Z",
    cgroupId: 1n,
  };
}

const SHELL = { pid: 100, ktime: 1_000n };

Deno.test("ProcessCache.upsert() stores an instance resolvable by (pid, ktime)", () => {
  const cache = new ProcessCache();
  const p = cache.upsert(proc(100, 1_000n));
  assert.equal(p.refcnt, 1);
  assert.equal(cache.get(100, 1_000n), p);
  assert.equal(cache.get(100, 999n), undefined);
  assert.equal(cache.getByPid(100), p);
  assert.equal(cache.size, 1);
  assert.equal(cache.misses, 1);
});

Deno.test("ProcessCache counts a reference on the parent per child and drops it at exit", () => {
  const cache = new ProcessCache();
  const shell = cache.upsert(proc(SHELL.pid, SHELL.ktime));
  cache.upsert(proc(200, 2_000n, SHELL));
  cache.upsert(proc(201, 2_001n, SHELL));
  assert.equal(shell.refcnt, 3);
  cache.onExit(200, 2_000n, 3_000n);
  assert.equal(shell.refcnt, 2);
  assert.equal(cache.get(200, 2_000n)?.refcnt, 0);
  assert.equal(cache.get(200, 2_000n)?.exitKtime, 3_000n);
  cache.onExit(201, 2_001n, 3_001n);
  cache.onExit(SHELL.pid, SHELL.ktime, 4_000n);
  assert.equal(shell.refcnt, 0);
  assert.equal(cache.refcntUnderflows, 0);
  assert.deepEqual(cache.stats(), {
    size: 3,
    live: 0,
    grace: 3,
    evictions: 0,
    misses: 0,
    refcntUnderflows: 0,
  });
});

Deno.test("ProcessCache.onExit() keeps the entry for the grace period", () => {
  const cache = new ProcessCache({ gcIntervalMs: 1000 });
  assert.equal(cache.tick(0), 0); // first pass
  cache.upsert(proc(100, 1_000n));
  cache.onExit(100, 1_000n, 2_000n);
  assert.equal(cache.tick(500), 0, "no pass before gcIntervalMs");
  assert.equal(cache.tick(1000), 0, "first pass after exit: still in grace");
  assert.ok(cache.get(100, 1_000n), "late events still resolve");
  assert.equal(cache.getByPid(100), undefined, "but it is no longer live");
  assert.equal(cache.tick(1980), 0);
  assert.equal(cache.tick(2000), 1, "second pass after exit deletes it");
  assert.equal(cache.peek(100, 1_000n), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("ProcessCache keeps an exited parent while children still reference it", () => {
  const cache = new ProcessCache({ gcIntervalMs: 1 });
  cache.upsert(proc(SHELL.pid, SHELL.ktime));
  cache.upsert(proc(200, 2_000n, SHELL));
  cache.onExit(SHELL.pid, SHELL.ktime, 3_000n);
  for (let t = 0; t < 10; t++) cache.tick(t);
  assert.equal(cache.peek(SHELL.pid, SHELL.ktime)?.refcnt, 1, "held by the child");
  cache.onExit(200, 2_000n, 4_000n);
  cache.tick(100);
  cache.tick(200);
  assert.equal(cache.size, 0);
});

Deno.test("ProcessCache.upsert() of an exec makes a new instance; the old one stays while referenced", () => {
  const cache = new ProcessCache({ gcIntervalMs: 1 });
  cache.upsert(proc(SHELL.pid, SHELL.ktime));
  const forked = cache.upsert(proc(200, 2_000n, SHELL, ["clone"]));
  // The forked (not yet exec'd) instance forks a child of its own, then execs.
  cache.upsert(proc(300, 2_500n, { pid: 200, ktime: 2_000n }, ["clone"]));
  const execd = cache.upsert(proc(200, 3_000n, SHELL));
  assert.notEqual(execd, forked);
  assert.equal(cache.getByPid(200), execd);
  assert.equal(forked.refcnt, 1, "own reference dropped at exec, child's kept");
  assert.equal(cache.peek(SHELL.pid, SHELL.ktime)?.refcnt, 2, "shell: self + exec'd child");
  cache.tick(0);
  cache.tick(1);
  cache.tick(2);
  assert.equal(cache.peek(200, 2_000n), forked, "still referenced by its child");
  cache.onExit(300, 2_500n, 4_000n);
  cache.onExit(200, 3_000n, 4_001n);
  assert.equal(forked.refcnt, 0);
  assert.equal(cache.peek(SHELL.pid, SHELL.ktime)?.refcnt, 1);
  cache.tick(3);
  cache.tick(4);
  assert.equal(cache.peek(200, 2_000n), undefined);
  assert.equal(cache.peek(200, 3_000n), undefined);
  assert.equal(cache.refcntUnderflows, 0);
});

Deno.test("ProcessCache.getByPid() returns the latest live instance", () => {
  const cache = new ProcessCache();
  cache.upsert(proc(200, 2_000n, undefined, ["clone"]));
  const second = cache.upsert(proc(200, 3_000n));
  const third = cache.upsert(proc(200, 4_000n));
  assert.equal(cache.getByPid(200), third);
  cache.onExit(200, 4_000n, 5_000n);
  assert.equal(cache.getByPid(200), undefined);
  assert.equal(second.refcnt, 0);
});

Deno.test("ProcessCache tolerates a child arriving before its parent", () => {
  const cache = new ProcessCache();
  const child = cache.upsert(proc(200, 2_000n, SHELL));
  assert.equal(cache.misses, 1, "the parent lookup missed");
  assert.equal(child.parentExecId, execId(NODE, SHELL.ktime, SHELL.pid), "id kept from the event");
  const shell = cache.upsert(proc(SHELL.pid, SHELL.ktime));
  assert.equal(shell.refcnt, 1, "no reference from a child that did not find it");
  cache.onExit(200, 2_000n, 3_000n);
  assert.equal(shell.refcnt, 1);
  assert.equal(cache.refcntUnderflows, 0);
});

Deno.test("ProcessCache stores a clone that arrives after its exec as already replaced", () => {
  const cache = new ProcessCache();
  const shell = cache.upsert(proc(SHELL.pid, SHELL.ktime));
  const execd = cache.upsert(proc(200, 3_000n, SHELL));
  const clone = cache.upsert(proc(200, 2_000n, SHELL, ["clone"]));
  assert.equal(clone.refcnt, 0);
  assert.equal(execd.refcnt, 1);
  assert.equal(shell.refcnt, 2);
  assert.equal(cache.getByPid(200), execd);
  assert.equal(cache.get(200, 2_000n), clone, "late events of the clone still resolve");
});

Deno.test("ProcessCache.onExit() of an unknown or already exited instance changes nothing", () => {
  const cache = new ProcessCache();
  const shell = cache.upsert(proc(SHELL.pid, SHELL.ktime));
  cache.upsert(proc(200, 2_000n, SHELL));
  assert.equal(cache.onExit(999, 1n, 2n), undefined);
  assert.equal(cache.misses, 1);
  cache.onExit(200, 2_000n, 3_000n);
  cache.onExit(200, 2_000n, 3_000n);
  assert.equal(cache.refcntUnderflows, 1);
  assert.equal(shell.refcnt, 1);
});

Deno.test("ProcessCache.upsert() of a known instance updates it in place", () => {
  const cache = new ProcessCache();
  const shell = cache.upsert(proc(SHELL.pid, SHELL.ktime));
  const first = cache.upsert(proc(200, 2_000n, SHELL, ["procFS"]));
  first.json = "{cached}";
  const again = cache.upsert({ ...proc(200, 2_000n, SHELL), binary: "/bin/sh" });
  assert.equal(again, first);
  assert.equal(first.binary, "/bin/sh");
  assert.equal(first.refcnt, 1);
  assert.equal(first.json, undefined, "cached JSON cleared");
  assert.equal(shell.refcnt, 2, "no second parent reference");
});

Deno.test("ProcessCache evicts grace entries before live ones when full", () => {
  const cache = new ProcessCache({ maxEntries: 4 });
  for (let pid = 1; pid <= 3; pid++) cache.upsert(proc(pid, BigInt(pid)));
  cache.onExit(2, 2n, 10n); // pid 2 enters grace
  cache.upsert(proc(4, 4n));
  cache.upsert(proc(5, 5n)); // full: the grace entry goes first
  assert.equal(cache.evictions, 1);
  assert.equal(cache.peek(2, 2n), undefined);
  assert.ok(cache.peek(1, 1n), "the oldest live entry survived");
  assert.equal(cache.size, 4);
});

Deno.test("ProcessCache evicts the least recently used live entry when no entry is in grace", () => {
  const cache = new ProcessCache({ maxEntries: 3 });
  for (let pid = 1; pid <= 3; pid++) cache.upsert(proc(pid, BigInt(pid)));
  cache.get(1, 1n); // pid 1 is now the most recently used
  cache.upsert(proc(4, 4n));
  assert.equal(cache.peek(2, 2n), undefined, "LRU victim");
  assert.ok(cache.peek(1, 1n));
  assert.equal(cache.evictions, 1);
});

Deno.test("ProcessCache gives back the parent reference of an evicted child", () => {
  const cache = new ProcessCache({ maxEntries: 2 });
  const shell = cache.upsert(proc(SHELL.pid, SHELL.ktime));
  cache.upsert(proc(200, 2_000n, SHELL));
  cache.get(SHELL.pid, SHELL.ktime);
  cache.upsert(proc(300, 3_000n)); // evicts the child (LRU)
  assert.equal(cache.peek(200, 2_000n), undefined);
  assert.equal(shell.refcnt, 1);
  assert.equal(cache.onExit(200, 2_000n, 4_000n), undefined);
  assert.equal(shell.refcnt, 1);
});

Deno.test("ProcessCache.tick() runs a pass only every gcIntervalMs", () => {
  const cache = new ProcessCache({ gcIntervalMs: 30_000, graceTicks: 1 });
  cache.tick(0);
  cache.upsert(proc(1, 1n));
  cache.onExit(1, 1n, 2n);
  assert.equal(cache.tick(15_000), 0);
  assert.equal(cache.tick(29_000), 0);
  assert.equal(cache.tick(29_800), 1, "a timer firing 200 ms early still runs the pass");
  cache.upsert(proc(2, 2n));
  cache.onExit(2, 2n, 3n);
  assert.equal(cache.tick(59_000), 0, "the next interval counts from the last pass");
  assert.equal(cache.tick(59_800), 1);
});

Deno.test("ProcessCache rejects bad options", () => {
  assert.throws(() => new ProcessCache({ maxEntries: 0 }), RangeError);
  assert.throws(() => new ProcessCache({ graceTicks: 1.5 }), RangeError);
  assert.throws(() => new ProcessCache({ gcIntervalMs: -1 }), RangeError);
});

function gcFunction(): () => void {
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as () => void;
  } catch {
    return () => {};
  }
}

/** Runs `count` short-lived children of one shell (clone, exec, exit) at `perMs` per ms. */
function churn(
  cache: ProcessCache,
  from: number,
  count: number,
  perMs: number,
  tickEvery: number,
): void {
  for (let i = from; i < from + count; i++) {
    const pid = 1000 + (i % 4_000_000);
    const forkK = BigInt(i) * 1000n + 10_000n;
    cache.upsert(proc(pid, forkK, SHELL, ["clone"]));
    cache.upsert(proc(pid, forkK + 500n, SHELL));
    cache.onExit(pid, forkK + 500n, forkK + 900n);
    if (i % tickEvery === 0) cache.tick(i / perMs);
  }
}

Deno.test("ProcessCache stays flat under 1,000,000 short-lived processes", () => {
  const gc = gcFunction();
  const cache = new ProcessCache({ gcIntervalMs: 1000 });
  const shell = cache.upsert(proc(SHELL.pid, SHELL.ktime));
  // 100 processes/ms (100k/s): grace holds up to 2 s of them, more than the default cap.
  churn(cache, 0, 100_000, 100, 1000);
  gc();
  const baseline = Deno.memoryUsage().heapUsed;
  let maxSize = 0;
  for (let from = 100_000; from < 1_000_000; from += 100_000) {
    churn(cache, from, 100_000, 100, 1000);
    maxSize = Math.max(maxSize, cache.size);
  }
  gc();
  const growth = Deno.memoryUsage().heapUsed - baseline;
  assert.ok(maxSize <= cache.maxEntries, `size ${maxSize}`);
  assert.ok(cache.evictions > 0, "the cap was exercised");
  assert.equal(shell.refcnt, 1, "every child gave its reference back");
  assert.equal(cache.refcntUnderflows, 0);
  assert.ok(growth < 16 * 1024 * 1024, `heap grew by ${(growth / 1048576).toFixed(1)} MiB`);
});

Deno.test("ProcessCache empties under churn when GC keeps up", () => {
  const gc = gcFunction();
  const cache = new ProcessCache({ gcIntervalMs: 10 });
  cache.upsert(proc(SHELL.pid, SHELL.ktime));
  churn(cache, 0, 200_000, 100, 100);
  gc();
  const baseline = Deno.memoryUsage().heapUsed;
  churn(cache, 200_000, 800_000, 100, 100);
  gc();
  const growth = Deno.memoryUsage().heapUsed - baseline;
  assert.equal(cache.evictions, 0);
  assert.ok(cache.size <= 2 * 10 * 100 * 2 + 1, `size ${cache.size}`);
  assert.ok(growth < 8 * 1024 * 1024, `heap grew by ${(growth / 1048576).toFixed(1)} MiB`);
  for (let t = 20_000; t < 20_100; t += 10) cache.tick(t);
  assert.equal(cache.size, 1, "only the shell is left");
});
