/**
 * The event gate and the per-container workload fields, driven with synthetic kernel records: a
 * real process cache, cgroup registry and process tracker, and an in-memory metadata lookup
 * standing in for the sources (their own tests run them against real daemons and wire formats).
 */
import assert from "node:assert/strict";
import { CgroupRegistry } from "../../src/cgroup/registry.ts";
import type { CloneRecord, ExecRecord, ExitRecord } from "../../src/events/records.ts";
import type { ContainerRef, WorkloadMetadata } from "../../src/metadata/types.ts";
import { cachedProcessJson } from "../../src/events/process_json.ts";
import { ProcessTracker } from "../../src/pipeline/process_tracker.ts";
import { workloadExtra, WorkloadTracker } from "../../src/workload/containers.ts";
import { EventGate, NO_METADATA_FLAG, type ParkingOptions } from "../../src/workload/gate.ts";
import { ProcessCache } from "../../src/process/cache.ts";
import { BootTimeFormatter } from "../../src/process/format.ts";

const POD_UID = "0d5e1c9a-7c2f-4b1e-9a55-3f1f2b7c8d90";
const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);
const CG_HOST = 10n;
const CG_A = 20n;
const CG_B = 30n;

function podOf(name: string, id: string): WorkloadMetadata {
  return {
    pod: {
      namespace: "shop",
      name,
      uid: POD_UID,
      container: {
        id: `containerd://${id}`,
        name: "app",
        image: { id: "docker.io/library/nginx@sha256:" + "1".repeat(64), name: "nginx:1.27" },
        start_time: "2026-01-01T00:00:00Z",
      },
      pod_labels: { app: "cart" },
      workload: "cart",
      workload_kind: "Deployment",
    },
  };
}

interface Out {
  type: string;
  // deno-lint-ignore no-explicit-any
  event: any;
  container?: string;
}

/** A tracker + gate over a fake metadata map; `known` is what the "sources" know. */
function setup(options: ParkingOptions = {}, withMetadata = true) {
  const known = new Map<string, WorkloadMetadata>();
  const registry = new CgroupRegistry();
  registry.onMkdir(CG_HOST, "/system.slice/sshd.service");
  registry.onMkdir(CG_A, `/kubepods/besteffort/pod${POD_UID}/${ID_A}`);
  registry.onMkdir(CG_B, `/kubepods/besteffort/pod${POD_UID}/${ID_B}`);
  const metadata = withMetadata ? { lookup: (ref: ContainerRef) => known.get(ref.id) } : null;
  const workload = new WorkloadTracker({ registry, metadata });
  const out: Out[] = [];
  const refreshed: string[] = [];
  let flushes = 0;
  let now = 1_000_000;
  const emit = (type: string, line: string, _policy?: string, container?: string) => {
    out.push({ type, event: JSON.parse(line)[type], container });
  };
  const gate = new EventGate({
    workload,
    out: { emit, flush: () => flushes++ },
    refresh: (c) => refreshed.push(c.ref.id),
    now: () => now,
  }, { retryDelayMs: 60_000, retries: 3, ...options });
  gate.setSources(true, true);
  const tracker = new ProcessTracker({
    cache: new ProcessCache(),
    clock: new BootTimeFormatter(1_700_000_000_000_000_000n),
    nodeName: "node-1",
    workload,
    gate,
  });
  /** The process JSON of instance (pid, ktime), brought up to date with its container. */
  const processJson = (pid: number, k: bigint): string | undefined => {
    const [p] = tracker.instances(pid, k);
    workload.sync(p);
    return p === undefined ? undefined : cachedProcessJson(p);
  };
  return {
    known,
    processJson,
    registry,
    workload,
    gate,
    tracker,
    out,
    refreshed,
    flushes: () => flushes,
    advance: (ms: number) => (now += ms),
  };
}

let ktime = 1_000_000n;

function exec(pid: number, parentPid: number, parentKtime: bigint, cgroupId: bigint, arg: string) {
  const r: ExecRecord = {
    kind: "exec",
    ktime: ++ktime,
    pid,
    tid: pid,
    ktimeKey: ktime,
    parentPid,
    parentKtime,
    cgroupId,
    uid: 0,
    euid: 0,
    auid: 0xffffffff,
    flags: 0,
    filename: "/bin/sh",
    argv: ["sh", arg],
    cwd: "/",
    comm: "sh",
    nsPid: 0,
  };
  return r;
}

function clone(pid: number, parentPid: number, parentKtime: bigint, cgroupId: bigint): CloneRecord {
  return {
    kind: "clone",
    ktime: ++ktime,
    pid,
    tid: pid,
    ktimeKey: ktime,
    parentPid,
    parentKtime,
    cgroupId,
    uid: 0,
    auid: 0xffffffff,
    flags: 0,
    comm: "sh",
    nsPid: 0,
  };
}

function exit(pid: number, ktimeKey: bigint): ExitRecord {
  return { kind: "exit", ktime: ++ktime, pid, tid: pid, ktimeKey, exitCode: 0 };
}

function flags(e: Out): string[] {
  return String(e.event.process.flags).split(" ");
}

Deno.test("host processes and known containers are emitted at once, with the full pod object", () => {
  const t = setup();
  t.known.set(ID_A, podOf("cart-1", ID_A));
  t.tracker.onExec(exec(100, 0, 0n, CG_HOST, "host"));
  t.tracker.onExec(exec(200, 0, 0n, CG_A, "in-a"));
  assert.equal(t.out.length, 2);
  assert.equal(t.out[0]!.event.process.pod, undefined);
  assert.equal(t.out[0]!.container, undefined);
  const p = t.out[1]!.event.process;
  assert.deepEqual(p.pod, {
    namespace: "shop",
    name: "cart-1",
    uid: POD_UID,
    container: {
      id: `containerd://${ID_A}`,
      name: "app",
      image: { id: "docker.io/library/nginx@sha256:" + "1".repeat(64), name: "nginx:1.27" },
      start_time: "2026-01-01T00:00:00Z",
    },
    pod_labels: { app: "cart" },
    workload: "cart",
    workload_kind: "Deployment",
  });
  assert.equal(p.docker, ID_A.slice(0, 31));
  assert.equal(t.out[1]!.container, ID_A);
  // Tetragon's order: ... auid, pod, docker, parent_exec_id, tid.
  const keys = Object.keys(p);
  assert.deepEqual(keys.slice(keys.indexOf("auid")), ["auid", "pod", "docker", "tid"]);
  assert.equal(t.gate.stats().counts.length, 0);
});

Deno.test("late metadata: events wait per container, in order, and leave complete", () => {
  const t = setup();
  t.tracker.onExec(exec(300, 0, 0n, CG_A, "first"));
  const init = ktime;
  t.tracker.onClone(clone(301, 300, init, CG_A));
  const worker = ktime;
  t.tracker.onExit(exit(301, worker));
  t.tracker.onExec(exec(400, 0, 0n, CG_HOST, "host")); // not held back by container A
  assert.deepEqual(t.out.map((o) => o.type), ["process_exec"]);
  assert.equal(t.out[0]!.event.process.arguments, "host");
  assert.equal(t.gate.parked, 2);
  assert.deepEqual(t.refreshed, [ID_A], "the first waiting event asks for a refresh");

  t.known.set(ID_A, podOf("cart-2", ID_A));
  t.workload.bump();
  t.gate.kick(t.workload.forIdentity(t.registry.lookup(CG_A)!.container!));
  assert.equal(t.gate.parked, 0);
  assert.deepEqual(t.out.slice(1).map((o) => o.type), ["process_exec", "process_exit"]);
  for (const o of t.out.slice(1)) {
    assert.equal(o.event.process.pod.name, "cart-2");
    assert.ok(!flags(o).includes(NO_METADATA_FLAG));
  }
  // The forked worker (never exec'd) exits with the pod, and its parent object too.
  assert.deepEqual(flags(t.out[2]!), ["clone"]);
  assert.equal(t.out[2]!.event.parent.pod.name, "cart-2");
  assert.ok(t.flushes() > 0);
  const counts = t.gate.stats().counts;
  assert.deepEqual(
    counts.map((c) => `${c.stage} ${c.type} ${c.reason} ${c.count}`).sort(),
    [
      "parked process_exec not_found 1",
      "parked process_exit not_found 1",
      "resolved process_exec not_found 1",
      "resolved process_exit not_found 1",
    ],
  );
});

Deno.test("a new event of a waiting container follows its queue even once the metadata is there", () => {
  const t = setup();
  t.tracker.onExec(exec(500, 0, 0n, CG_A, "one"));
  t.tracker.onExec(exec(501, 0, 0n, CG_B, "b-one"));
  t.tracker.onExec(exec(502, 0, 0n, CG_A, "two"));
  assert.equal(t.out.length, 0);
  t.known.set(ID_A, podOf("cart-3", ID_A));
  t.workload.bump();
  t.tracker.onExec(exec(503, 0, 0n, CG_A, "three"));
  assert.deepEqual(t.out.map((o) => o.event.process.arguments), ["one", "two", "three"]);
  assert.equal(t.gate.parked, 1, "container B still waits");
});

Deno.test("giving up: flagged after the retries, later events flagged at once, then filled in", () => {
  const t = setup({ retries: 3 });
  t.tracker.onExec(exec(600, 0, 0n, CG_A, "early"));
  const init = ktime;
  t.tracker.onClone(clone(601, 600, init, CG_A));
  const worker = ktime;
  t.gate.tick();
  t.gate.tick();
  assert.equal(t.out.length, 0);
  assert.deepEqual(t.refreshed, [ID_A, ID_A, ID_A], "at park, then at each retry");
  t.gate.tick();
  assert.equal(t.out.length, 1);
  const gaveUp = t.out[0]!;
  assert.deepEqual(flags(gaveUp), ["execve", NO_METADATA_FLAG]);
  assert.equal(gaveUp.event.process.pod.container.id, `containerd://${ID_A}`, "cgroup fields");
  assert.equal(gaveUp.event.process.pod.name, undefined);

  // The container is given up on: its next events leave at once, flagged.
  t.tracker.onExit(exit(601, worker));
  assert.equal(t.out.length, 2);
  assert.ok(flags(t.out[1]!).includes(NO_METADATA_FLAG));
  assert.ok(flags(t.out[1]!).includes("clone"));
  assert.equal(t.refreshed.length, 3, "refreshed at most once per wait window");
  t.advance(3 * 60_000);
  t.tracker.onExec(exec(602, 600, init, CG_A, "still-unknown"));
  assert.equal(t.refreshed.length, 4);

  // A source learns the container: later events carry the pod, unflagged, parent included.
  t.known.set(ID_A, podOf("cart-4", ID_A));
  t.workload.bump();
  t.tracker.onExit(exit(600, init));
  const last = t.out.at(-1)!;
  assert.equal(last.type, "process_exit");
  assert.equal(last.event.process.pod.name, "cart-4");
  assert.deepEqual(flags(last), ["execve"]);
  const counts = Object.fromEntries(
    t.gate.stats().counts.map((c) => [`${c.stage} ${c.type} ${c.reason}`, c.count]),
  );
  assert.equal(counts["parked process_exec not_found"], 1);
  assert.equal(counts["retried process_exec not_found"], 2);
  assert.equal(counts["gave_up process_exec not_found"], 1);
  assert.equal(counts["gave_up process_exit unresolved"], 1);
  assert.equal(counts["gave_up process_exec unresolved"], 1);
});

Deno.test("a fork into an unknown cgroup inherits its parent's container before any exec", () => {
  const t = setup();
  t.known.set(ID_A, podOf("cart-5", ID_A));
  t.tracker.onExec(exec(700, 0, 0n, CG_A, "parent"));
  const init = ktime;
  t.tracker.onClone(clone(701, 700, init, 999n)); // a cgroup the registry has not seen
  t.tracker.onExit(exit(701, ktime));
  assert.equal(t.out[1]!.event.process.pod.name, "cart-5");
  // A fork whose own (known) cgroup is a host cgroup is not in the container.
  t.tracker.onClone(clone(702, 700, init, CG_HOST));
  t.tracker.onExit(exit(702, ktime));
  assert.equal(t.out[2]!.event.process.pod, undefined);
});

Deno.test("metadata that changes later reaches a cached process at its next event", () => {
  const t = setup();
  t.known.set(ID_A, podOf("cart-6", ID_A));
  t.tracker.onExec(exec(800, 0, 0n, CG_A, "x"));
  const k = ktime;
  const first = t.processJson(800, k);
  assert.match(first!, /"name":"cart-6"/);
  // Same content from a resync: the same extra object, the cached JSON stays.
  t.known.set(ID_A, podOf("cart-6", ID_A));
  t.workload.bump();
  const again = t.processJson(800, k);
  assert.equal(again, first);
  const p = t.tracker.instances(800, k)[0]!;
  const extraBefore = p.extra;
  t.workload.sync(p);
  assert.equal(p.extra, extraBefore);
  // New labels: a new extra object, a new JSON.
  const md = podOf("cart-6", ID_A);
  md.pod!.pod_labels = { app: "cart", tier: "web" };
  t.known.set(ID_A, md);
  t.workload.bump();
  const changed = t.processJson(800, k);
  assert.match(changed!, /"tier":"web"/);
});

Deno.test("overflow emits the oldest waiting event, flagged; memory stays bounded", () => {
  const t = setup({ maxEvents: 3 });
  for (let i = 0; i < 5; i++) t.tracker.onExec(exec(900 + i, 0, 0n, CG_A, `e${i}`));
  assert.equal(t.gate.parked, 3);
  assert.deepEqual(t.out.map((o) => o.event.process.arguments), ["e0", "e1"]);
  for (const o of t.out) assert.ok(flags(o).includes(NO_METADATA_FLAG));
  t.known.set(ID_A, podOf("cart-7", ID_A));
  t.gate.recheck();
  assert.deepEqual(t.out.map((o) => o.event.process.arguments), ["e0", "e1", "e2", "e3", "e4"]);
  assert.equal(t.out[2]!.event.process.pod.name, "cart-7");
  const overflow = t.gate.stats().counts.find((c) => c.reason === "overflow");
  assert.equal(overflow?.count, 2);
});

Deno.test("nothing waits while no source is enabled, or without metadata at all", () => {
  const t = setup();
  t.gate.setSources(false, false);
  t.tracker.onExec(exec(1000, 0, 0n, CG_A, "x"));
  assert.equal(t.out.length, 1);
  assert.ok(!flags(t.out[0]!).includes(NO_METADATA_FLAG));
  assert.equal(t.out[0]!.event.process.pod.container.id, `containerd://${ID_A}`);

  const n = setup({}, false);
  n.tracker.onExec(exec(1001, 0, 0n, CG_A, "y"));
  assert.equal(n.out.length, 1);
  assert.equal(n.out[0]!.event.process.pod.uid, POD_UID);

  // Sources that become disabled release what waits, flagged.
  const d = setup();
  d.tracker.onExec(exec(1002, 0, 0n, CG_A, "z"));
  assert.equal(d.out.length, 0);
  d.gate.setSources(false, false);
  d.gate.recheck();
  assert.equal(d.out.length, 1);
  assert.ok(flags(d.out[0]!).includes(NO_METADATA_FLAG));
  assert.equal(d.gate.stats().counts.find((c) => c.stage === "gave_up")?.reason, "no_source");
});

Deno.test("source down: the reason says so; shutdown drains with metadata where known", () => {
  const t = setup();
  t.gate.setSources(true, false);
  t.tracker.onExec(exec(1100, 0, 0n, CG_A, "a"));
  t.tracker.onExec(exec(1101, 0, 0n, CG_B, "b"));
  t.known.set(ID_B, podOf("cart-8", ID_B));
  t.gate.drain();
  assert.equal(t.gate.parked, 0);
  const byArg = Object.fromEntries(t.out.map((o) => [o.event.process.arguments, o]));
  assert.ok(flags(byArg["a"]!).includes(NO_METADATA_FLAG));
  assert.equal(byArg["b"]!.event.process.pod.name, "cart-8");
  const counts = t.gate.stats().counts.map((c) => `${c.stage} ${c.reason}`).sort();
  assert.deepEqual(counts, [
    "gave_up shutdown",
    "parked source_down",
    "resolved source_down",
  ]);
});

Deno.test("workloadExtra: Cloud Foundry and plain containers", () => {
  const garden = { runtime: "garden" as const, id: "7f2b1c3d-1a2b-4c5d-8e9f-0a1b", podUid: null };
  const cf = workloadExtra({ ...garden, isRoot: true }, {
    cf: { app_guid: "g", app_name: "web", space: "dev", org: "acme", instance_index: 0 },
  });
  assert.deepEqual(cf, {
    pod: { container: { id: "garden://7f2b1c3d-1a2b-4c5d-8e9f-0a1b" } },
    docker: "7f2b1c3d-1a2b-4c5d-8e9f-0a1b",
    cf: { app_guid: "g", app_name: "web", space: "dev", org: "acme", instance_index: 0 },
  });
  const plain = workloadExtra(
    { runtime: "containerd", id: "plain-1", podUid: null, isRoot: true },
    { container: { id: "containerd://plain-1", name: "plain", image: { name: "busybox" } } },
  );
  assert.deepEqual(plain, {
    pod: { container: { id: "containerd://plain-1", name: "plain", image: { name: "busybox" } } },
    docker: "plain-1",
  });
});
