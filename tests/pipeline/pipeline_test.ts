/**
 * The record pipeline without a kernel: records encoded at the generated offsets go through the
 * agent's own handler table (real decoder, process cache, tracker, cgroup registry, gate and
 * exit), and the lines, hub metadata and counters that come out are checked.
 */
import assert from "node:assert/strict";
import type { EventMeta } from "../../src/api/types.ts";
import { CgroupRegistry } from "../../src/cgroup/registry.ts";
import { EventOut } from "../../src/pipeline/out.ts";
import { recordHandlers, RecordPipeline } from "../../src/pipeline/pipeline.ts";
import { PolicyEvents } from "../../src/pipeline/policy_events.ts";
import { PROCESS_EVENT_TYPES, ProcessTracker } from "../../src/pipeline/process_tracker.ts";
import type { HookEventInfo } from "../../src/policy/mod.ts";
import { ProcessCache } from "../../src/process/cache.ts";
import { BootTimeFormatter } from "../../src/process/format.ts";
import type { WorkloadMetadata } from "../../src/metadata/types.ts";
import { WorkloadTracker } from "../../src/workload/containers.ts";
import { Enrichment } from "../../src/workload/enrichment.ts";
import { EventGate } from "../../src/workload/gate.ts";
import {
  benchBytes,
  cgroupBytes,
  execBytes,
  exitBytes,
  policyBytes,
  type RawRecord,
  unknownBytes,
} from "./_records.ts";

const CONTAINER = "c".repeat(64);
const CG_CONTAINER = 500n;
const HOOK = 7;
const INFO: HookEventInfo = {
  kind: "process_kprobe",
  where: '"function_name":"__x64_sys_openat"',
  args: [],
  policy: '"policy_name":"opens"',
  trailer: "",
};

function setup() {
  const lines: string[] = [];
  const metas: EventMeta[] = [];
  let flushes = 0;
  const out = new EventOut(
    { writeLine: (l) => lines.push(l), flush: () => flushes++ },
    { publish: (_l, meta) => metas.push(meta) },
    PROCESS_EVENT_TYPES,
  );
  const cache = new ProcessCache();
  const clock = new BootTimeFormatter(1_700_000_000_000_000_000n);
  const registry = new CgroupRegistry();
  const enrichment = new Enrichment({
    registry,
    metadata: null,
    out,
  });
  const tracker = new ProcessTracker({
    cache,
    clock,
    nodeName: "node-1",
    workload: enrichment.workload,
    gate: enrichment.gate,
  });
  const policies = new PolicyEvents({
    routes: { route: (id) => (id === HOOK ? { policy: "opens", info: INFO } : undefined) },
    processes: tracker,
    gate: enrichment.gate,
    clock,
    nodeName: "node-1",
  });
  const pipeline = new RecordPipeline(
    recordHandlers({ processes: tracker, cgroups: registry, enrichment, policies }),
  );
  const feed = (...records: RawRecord[]) => {
    for (const r of records) pipeline.onRecord(r.view, r.at, r.length);
  };
  // deno-lint-ignore no-explicit-any
  const events = (): any[] => lines.map((l) => JSON.parse(l));
  return {
    out,
    pipeline,
    policies,
    tracker,
    registry,
    feed,
    events,
    metas,
    flushes: () => flushes,
  };
}

Deno.test("RecordPipeline sends exec and exit records to the tracker and out through one exit", () => {
  const t = setup();
  t.feed(
    cgroupBytes("mkdir", CG_CONTAINER, `/system.slice/docker-${CONTAINER}.scope`),
    execBytes({
      pid: 100,
      ktime: 1000n,
      parentPid: 0,
      parentKtime: 0n,
      cgroupId: CG_CONTAINER,
      argv: ["/bin/sh", "-c", "x"],
    }),
    exitBytes({ pid: 100, ktime: 1000n, at: 2000n, status: 3 << 8 }),
  );
  const [exec, exit] = t.events();
  assert.equal(t.events().length, 2);
  assert.equal(exec.process_exec.process.binary, "/bin/sh");
  assert.equal(exec.process_exec.process.arguments, "-c x");
  assert.equal(exec.process_exec.process.docker, CONTAINER.slice(0, 31));
  assert.equal(exit.process_exit.process.pid, 100);
  assert.equal(exit.process_exit.status, 3);
  assert.deepEqual(t.metas, [
    { type: "process_exec", policy: undefined, container: CONTAINER },
    { type: "process_exit", policy: undefined, container: CONTAINER },
  ]);
  assert.deepEqual(t.out.byType(), { process_exec: 1, process_exit: 1 });
  assert.deepEqual(t.out.counts(), [
    { type: "process_exec", policy: "", count: 1 },
    { type: "process_exit", policy: "", count: 1 },
  ]);
  assert.equal(t.pipeline.decodeErrors, 0);
  assert.equal(t.registry.size, 1);
});

Deno.test("RecordPipeline decodes a policy record once and emits it with its process, or counts it unrouted", () => {
  const t = setup();
  t.feed(
    execBytes({
      pid: 200,
      ktime: 3000n,
      parentPid: 0,
      parentKtime: 0n,
      cgroupId: 1n,
      argv: ["/usr/bin/cat", "/etc/hosts"],
    }),
    policyBytes({ hookId: HOOK, pid: 200, ktime: 3000n, at: 3500n, strings: ["/etc/hosts"] }),
    policyBytes({ hookId: HOOK + 1, pid: 200, ktime: 3000n, at: 3600n, strings: [] }),
  );
  const events = t.events();
  assert.equal(events.length, 2);
  const kprobe = events[1].process_kprobe;
  assert.equal(kprobe.process.binary, "/usr/bin/cat");
  assert.equal(kprobe.function_name, "__x64_sys_openat");
  assert.equal(kprobe.policy_name, "opens");
  assert.equal(kprobe.action, "KPROBE_ACTION_POST");
  assert.equal(t.policies.unrouted, 1, "the record of a hook that is gone is counted, not emitted");
  assert.deepEqual(t.metas[1], { type: "process_kprobe", policy: "opens", container: undefined });
  assert.deepEqual(t.out.counts(), [
    { type: "process_exec", policy: "", count: 1 },
    { type: "process_exit", policy: "", count: 0 },
    { type: "policy", policy: "opens", count: 1 },
  ]);
  assert.deepEqual(t.out.byType(), { process_exec: 1, process_exit: 0, process_kprobe: 1 });
});

Deno.test("RecordPipeline counts undecodable records and goes on; a kind without a handler is dropped", () => {
  const t = setup();
  const exec = execBytes({
    pid: 300,
    ktime: 4000n,
    parentPid: 0,
    parentKtime: 0n,
    cgroupId: 1n,
    argv: ["/bin/true"],
  });
  t.feed(
    unknownBytes(),
    { ...exec, length: exec.length - 3 }, // shorter than its tail
    { ...exec, length: 4 }, // no header
    benchBytes(),
    exec,
  );
  assert.equal(t.pipeline.decodeErrors, 3);
  assert.equal(t.events().length, 1);
  assert.equal(t.events()[0].process_exec.process.pid, 300);
});

Deno.test("RecordPipeline: an exit of a process never seen is exported with what the record says and counted", () => {
  const t = setup();
  t.feed(exitBytes({ pid: 400, ktime: 5000n, at: 6000n, status: 9 }));
  const [exit] = t.events();
  assert.equal(exit.process_exit.process.pid, 400);
  assert.equal(exit.process_exit.signal, "SIGKILL");
  assert.equal(t.tracker.unknownExits, 1);
});

Deno.test("a policy event that waits for its container's metadata keeps its arg data past the ring slot", () => {
  const registry = new CgroupRegistry();
  registry.onMkdir(CG_CONTAINER, `/system.slice/docker-${CONTAINER}.scope`);
  const known = new Map<string, WorkloadMetadata>();
  const workload = new WorkloadTracker({
    registry,
    metadata: { lookup: (ref) => known.get(ref.id) },
  });
  const lines: string[] = [];
  const gate = new EventGate({
    workload,
    out: { emit: (_t, line) => lines.push(line), flush: () => {} },
    refresh: () => {},
  }, { retryDelayMs: 60_000 });
  gate.setSources(true, true);
  const clock = new BootTimeFormatter(1_700_000_000_000_000_000n);
  const tracker = new ProcessTracker({
    cache: new ProcessCache(),
    clock,
    nodeName: "node-1",
    workload,
    gate,
  });
  const info: HookEventInfo = {
    ...INFO,
    args: [{ pos: 0, json: "string_arg", label: "", sizeArg: 0 }],
  };
  const policies = new PolicyEvents({
    routes: { route: () => ({ policy: "opens", info }) },
    processes: tracker,
    gate,
    clock,
    nodeName: "node-1",
  });
  const pipeline = new RecordPipeline(
    recordHandlers({
      processes: tracker,
      cgroups: registry,
      enrichment: { onCgroupMkdir: () => {} },
      policies,
    }),
  );
  const feed = (r: RawRecord) => pipeline.onRecord(r.view, r.at, r.length);
  feed(execBytes({
    pid: 500,
    ktime: 7000n,
    parentPid: 0,
    parentKtime: 0n,
    cgroupId: CG_CONTAINER,
    argv: ["/bin/app"],
  }));
  const rec = policyBytes({
    hookId: HOOK,
    pid: 500,
    ktime: 7000n,
    at: 7500n,
    strings: ["/etc/shadow"],
  });
  feed(rec);
  assert.equal(lines.length, 0, "both events wait for the container's metadata");
  assert.equal(gate.parked, 2);
  // The ring slot is reused by the next record.
  new Uint8Array(rec.view.buffer).fill(0x41);
  known.set(CONTAINER, { container: { id: `docker://${CONTAINER}`, name: "app" } });
  gate.kick(workload.containerOf(CG_CONTAINER)!);
  assert.equal(lines.length, 2);
  const kprobe = JSON.parse(lines[1]!).process_kprobe;
  assert.deepEqual(kprobe.args, [{ string_arg: "/etc/shadow" }]);
  assert.equal(kprobe.process.pod.container.name, "app");
});
