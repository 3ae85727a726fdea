/**
 * The process tracker on its own: synthetic exec, clone, exit and seed records through a real
 * process cache and gate (no metadata sources, so nothing waits), checking the exported lines
 * and what the cache keeps.
 */
import assert from "node:assert/strict";
import { ENUMS } from "../../src/bpf/abi.gen.ts";
import { CgroupRegistry } from "../../src/cgroup/registry.ts";
import type { CloneRecord, ExecRecord, ExitRecord, SeedRecord } from "../../src/events/records.ts";
import { ProcessTracker } from "../../src/pipeline/process_tracker.ts";
import { ProcessCache } from "../../src/process/cache.ts";
import { BootTimeFormatter } from "../../src/process/format.ts";
import type { ProcfsProcess } from "../../src/process/procfs.ts";
import { WorkloadTracker } from "../../src/workload/containers.ts";
import { EventGate } from "../../src/workload/gate.ts";

const F = ENUMS.vigil_exec_flags;

function setup() {
  // deno-lint-ignore no-explicit-any
  const out: { type: string; event: any; container?: string }[] = [];
  const workload = new WorkloadTracker({ registry: new CgroupRegistry(), metadata: null });
  const gate = new EventGate({
    workload,
    out: {
      emit: (type, line, _policy, container) =>
        out.push({ type, event: JSON.parse(line)[type], container }),
      flush: () => {},
    },
    refresh: () => {},
  });
  const cache = new ProcessCache();
  const tracker = new ProcessTracker({
    cache,
    clock: new BootTimeFormatter(1_700_000_000_000_000_000n),
    nodeName: "node-1",
    workload,
    gate,
  });
  return { tracker, cache, out };
}

function exec(o: Partial<ExecRecord> & { pid: number; ktimeKey: bigint }): ExecRecord {
  return {
    kind: "exec",
    ktime: o.ktimeKey,
    tid: o.pid,
    parentPid: 0,
    parentKtime: 0n,
    cgroupId: 1n,
    uid: 1000,
    euid: 1000,
    auid: 1000,
    flags: 0,
    filename: "/bin/sh",
    argv: ["sh"],
    cwd: "/home/u",
    comm: "sh",
    nsPid: o.pid,
    ...o,
  };
}

function clone(pid: number, ktimeKey: bigint, parentPid: number, parentKtime: bigint): CloneRecord {
  return {
    kind: "clone",
    ktime: ktimeKey,
    pid,
    tid: pid,
    ktimeKey,
    parentPid,
    parentKtime,
    cgroupId: 1n,
    uid: 1000,
    auid: 1000,
    flags: 0,
    comm: "sh",
    nsPid: pid,
  };
}

function exit(pid: number, ktimeKey: bigint, at: bigint, exitCode = 0): ExitRecord {
  return { kind: "exit", ktime: at, pid, tid: pid, ktimeKey, exitCode };
}

Deno.test("ProcessTracker.onExec() exports process_exec with the binary made absolute, the parent, and flags", () => {
  const t = setup();
  t.tracker.onExec(exec({ pid: 10, ktimeKey: 100n, filename: "/bin/bash", argv: ["bash"] }));
  t.tracker.onExec(exec({
    pid: 11,
    ktimeKey: 110n,
    parentPid: 10,
    parentKtime: 100n,
    filename: "./run.sh",
    argv: ["./run.sh", "a b", "c"],
    cwd: "/srv/app",
    flags: F.VIGIL_F_TRUNC_ARGS,
  }));
  assert.equal(t.out.length, 2);
  const ev = t.out[1]!.event;
  assert.equal(ev.process.binary, "/srv/app/run.sh");
  assert.equal(ev.process.arguments, '"a b" c');
  assert.equal(ev.process.cwd, "/srv/app");
  assert.equal(ev.process.flags, "execve truncArgs");
  assert.equal(ev.parent.binary, "/bin/bash");
  assert.equal(ev.process.parent_exec_id, ev.parent.exec_id);
  assert.equal(t.out[1]!.container, undefined, "a host process has no container");
});

Deno.test("ProcessTracker.onClone() caches the child with its parent's image and exports nothing", () => {
  const t = setup();
  t.tracker.onExec(
    exec({ pid: 20, ktimeKey: 200n, filename: "/usr/sbin/nginx", argv: ["nginx", "-g", "x"] }),
  );
  t.tracker.onClone(clone(21, 210n, 20, 200n));
  t.tracker.onClone(clone(22, 220n, 999, 1n)); // parent never seen
  assert.equal(t.out.length, 1);
  const child = t.cache.get(21, 210n)!;
  assert.equal(child.binary, "/usr/sbin/nginx");
  assert.equal(child.arguments, "-g x");
  assert.deepEqual(child.flags, ["clone"]);
  assert.deepEqual(t.cache.get(22, 220n)!.flags, ["clone", "miss"]);

  t.tracker.onExit(exit(21, 210n, 300n, 2 << 8));
  const ev = t.out[1]!.event;
  assert.equal(t.out[1]!.type, "process_exit");
  assert.equal(ev.process.binary, "/usr/sbin/nginx");
  assert.equal(ev.parent.pid, 20);
  assert.equal(ev.status, 2);
});

Deno.test("ProcessTracker.onExit() of an unknown process exports what the record says and counts it", () => {
  const t = setup();
  t.tracker.onExit(exit(30, 300n, 400n, 15));
  assert.equal(t.tracker.unknownExits, 1);
  const ev = t.out[0]!.event;
  assert.equal(ev.process.pid, 30);
  assert.equal(ev.process.flags, "miss");
  assert.equal(ev.signal, "SIGTERM");
  assert.equal(ev.parent, undefined);
});

Deno.test("ProcessTracker.instances() finds the exact instance, else the pid's current one, and its parent", () => {
  const t = setup();
  t.tracker.onExec(exec({ pid: 40, ktimeKey: 400n }));
  t.tracker.onExec(exec({ pid: 41, ktimeKey: 410n, parentPid: 40, parentKtime: 400n }));
  const [p, q] = t.tracker.instances(41, 410n);
  assert.equal(p?.pid, 41);
  assert.equal(q?.pid, 40);
  // A fork-time key the cache never saw (policy event of a process that exec'd since): by pid.
  assert.equal(t.tracker.instances(41, 12345n)[0]?.ktime, 410n);
  assert.deepEqual(t.tracker.instances(42, 1n), [undefined, undefined]);
});

Deno.test("ProcessTracker.seed() adds running processes parents first, from procfs, flagged procFS", () => {
  const t = setup();
  const seed = (pid: number, ktimeKey: bigint, parentPid: number, parentKtime: bigint, flags = 0) =>
    ({
      ktimeKey,
      parentKtime,
      cgroupId: 1n,
      pid,
      parentPid,
      uid: 0,
      auid: 0xffffffff,
      flags,
      comm: pid === 2 ? "kthreadd" : "init",
    }) satisfies SeedRecord;
  const procfs: Record<number, ProcfsProcess> = {
    1: { binary: "/sbin/init", argv: ["/sbin/init", "splash"], cwd: "/", nsPid: 1 },
    2: { binary: "", argv: [], cwd: "", nsPid: 0 },
  };
  const n = t.tracker.seed(
    [seed(2, 20n, 0, 0n, F.VIGIL_F_KTHREAD), seed(1, 10n, 0, 0n)],
    { read: (pid) => procfs[pid] ?? { binary: "", argv: [], cwd: "", nsPid: 0 } },
  );
  assert.equal(n, 2);
  const init = t.cache.get(1, 10n)!;
  assert.equal(init.binary, "/sbin/init");
  assert.equal(init.arguments, "splash");
  assert.deepEqual(init.flags, ["procFS", "rootcwd"]);
  const kthread = t.cache.get(2, 20n)!;
  assert.equal(kthread.binary, "[kthreadd]");
  assert.deepEqual(kthread.flags, ["procFS", "nocwd"]);
  assert.equal(t.out.length, 0, "seeding exports nothing");
});
