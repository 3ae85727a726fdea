import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { cgroupSubsysIdsFromBtf } from "../../src/cgroup/btf_subsys.ts";
import { decideHierarchy } from "../../src/cgroup/hierarchy.ts";
import { liveProbe } from "../../src/cgroup/live_probe.ts";
import { parseMountinfo } from "../../src/cgroup/mountinfo.ts";
import { parseProcCgroups } from "../../src/cgroup/proc_cgroups.ts";
import { scanHierarchy } from "../../src/cgroup/scan.ts";
import { btfSubsysName } from "../../src/cgroup/target.ts";
import { parseTaskCgroups, taskCgroupFor } from "../../src/cgroup/task_cgroup.ts";

function liveDecision() {
  const read = (p: string) => Deno.readTextFileSync(p);
  const taskCgroups = parseTaskCgroups(read("/proc/self/cgroup"));
  const decision = decideHierarchy(
    {
      mounts: parseMountinfo(read("/proc/self/mountinfo")),
      subsystems: parseProcCgroups(read("/proc/cgroups")),
      taskCgroups,
    },
    liveProbe(),
  );
  return { decision, taskCgroups };
}

function liveSkipReason(): string | null {
  if (Deno.uid() !== 0) return "not root: creating a cgroup needs write access to cgroupfs";
  const { decision } = liveDecision();
  if (decision.chosen?.origin !== "agent") {
    return `no accepted cgroup mount: ${decision.log.at(-1)}`;
  }
  return null;
}

const LIVE_SKIP = liveSkipReason();
const BTF_SKIP = (() => {
  try {
    Deno.statSync("/sys/kernel/btf/vmlinux");
    return null;
  } catch (err) {
    return `no kernel BTF: ${err}`;
  }
})();

function named(name: string, skip: string | null) {
  return skip === null
    ? { name, ignore: false }
    : { name: `${name} [IGNORED: ${skip}]`, ignore: true };
}

Deno.test("scanHierarchy() maps directory inodes (bigint) to paths relative to the root", async () => {
  const root = Deno.makeTempDirSync({ prefix: "vigil-scan-" });
  try {
    Deno.mkdirSync(`${root}/kubepods.slice/pod-a/ctr`, { recursive: true });
    Deno.mkdirSync(`${root}/system.slice`);
    Deno.writeTextFileSync(`${root}/cgroup.procs`, "");
    const ids = await scanHierarchy(root);
    const ino = (p: string) => statSync(`${root}${p}`, { bigint: true }).ino;
    assert.equal(ids.get(ino("")), "/");
    assert.equal(ids.get(ino("/kubepods.slice/pod-a/ctr")), "/kubepods.slice/pod-a/ctr");
    assert.equal(ids.get(ino("/system.slice")), "/system.slice");
    assert.equal(ids.size, 5, "files are not cgroups");
    for (const id of ids.keys()) assert.equal(typeof id, "bigint");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("scanHierarchy() stops at maxDepth", async () => {
  const root = Deno.makeTempDirSync({ prefix: "vigil-scan-" });
  try {
    Deno.mkdirSync(`${root}/a/b/c/d`, { recursive: true });
    const ids = await scanHierarchy(root, { maxDepth: 2 });
    assert.deepEqual([...ids.values()].sort(), ["/", "/a", "/a/b"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("scanHierarchy() tolerates directories vanishing during the walk", async () => {
  const root = Deno.makeTempDirSync({ prefix: "vigil-scan-" });
  try {
    for (let i = 0; i < 200; i++) Deno.mkdirSync(`${root}/c${i}/child`, { recursive: true });
    const errors: unknown[] = [];
    // Remove them concurrently with the walk (the readDir iteration yields to these removals).
    const removals = Array.from(
      { length: 200 },
      (_, i) => Deno.remove(`${root}/c${i}`, { recursive: true }).catch(() => {}),
    );
    const ids = await scanHierarchy(root, { onError: (_path, err) => errors.push(err) });
    await Promise.all(removals);
    assert.deepEqual(errors, [], "vanished directories are not errors");
    assert.equal(ids.get(statSync(root, { bigint: true }).ino), "/");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test(
  named("scanHierarchy() finds a new cgroup of the live hierarchy under its kernel id", LIVE_SKIP),
  async () => {
    const { decision, taskCgroups } = liveDecision();
    const target = decision.target;
    const mountpoint = decision.chosen?.mountpoint as string;
    const line = taskCgroupFor(
      taskCgroups,
      target?.kind === "controller" ? target.controller : undefined,
    );
    assert.ok(line);
    const rel = `${line.path === "/" ? "" : line.path}/vigil-scan-${Deno.pid}`;
    Deno.mkdirSync(`${mountpoint}${rel}`);
    try {
      const ids = await scanHierarchy(mountpoint);
      const id = statSync(`${mountpoint}${rel}`, { bigint: true }).ino;
      assert.equal(ids.get(id), rel);
      assert.equal(ids.get(1n), "/", "the hierarchy root is kernfs id 1");
    } finally {
      Deno.removeSync(`${mountpoint}${rel}`);
    }
  },
);

Deno.test(
  named(
    "cgroupSubsysIdsFromBtf() agrees with /proc/cgroups line positions on this kernel",
    BTF_SKIP,
  ),
  () => {
    const ids = cgroupSubsysIdsFromBtf(Deno.readFileSync("/sys/kernel/btf/vmlinux"));
    const subsystems = parseProcCgroups(Deno.readTextFileSync("/proc/cgroups"));
    for (const s of subsystems) assert.equal(ids.get(btfSubsysName(s.name)), s.index, s.name);
  },
);

Deno.test("cgroupSubsysIdsFromBtf() walks other type kinds to find the enum", () => {
  assert.deepEqual(
    [...cgroupSubsysIdsFromBtf(syntheticBtf()).entries()],
    [["cpuset", 0], ["io", 3], ["memory", 4]],
  );
  assert.throws(() => cgroupSubsysIdsFromBtf(new Uint8Array(24)), /bad magic/);
});

/** A little-endian BTF blob: INT, STRUCT (2 members), ENUM cgroup_subsys_id (3 values). */
function syntheticBtf(): Uint8Array {
  const strings = [
    "",
    "int",
    "s",
    "cgroup_subsys_id",
    "cpuset_cgrp_id",
    "io_cgrp_id",
    "memory_cgrp_id",
  ];
  const offsets: number[] = [];
  let strLen = 0;
  for (const s of strings) {
    offsets.push(strLen);
    strLen += s.length + 1;
  }
  const str = (s: string) => offsets[strings.indexOf(s)] as number;
  const types: number[] = [
    // INT "int": name, info(kind 1), size, then 4 bytes of encoding
    str("int"),
    1 << 24,
    4,
    0x20,
    // STRUCT "s": kind 4, vlen 2, size 8, two 12-byte members
    str("s"),
    (4 << 24) | 2,
    8,
    0,
    1,
    0,
    0,
    1,
    32,
    // ENUM cgroup_subsys_id: kind 6, vlen 3, size 4, (name, value) pairs
    str("cgroup_subsys_id"),
    (6 << 24) | 3,
    4,
    str("cpuset_cgrp_id"),
    0,
    str("io_cgrp_id"),
    3,
    str("memory_cgrp_id"),
    4,
  ];
  const hdrLen = 24;
  const typeLen = types.length * 4;
  const buf = new Uint8Array(hdrLen + typeLen + strLen);
  const view = new DataView(buf.buffer);
  view.setUint16(0, 0xeb9f, true);
  view.setUint8(2, 1);
  view.setUint32(4, hdrLen, true);
  view.setUint32(8, 0, true);
  view.setUint32(12, typeLen, true);
  view.setUint32(16, typeLen, true);
  view.setUint32(20, strLen, true);
  types.forEach((v, i) => view.setUint32(hdrLen + 4 * i, v, true));
  const enc = new TextEncoder();
  strings.forEach((s, i) => buf.set(enc.encode(s), hdrLen + typeLen + (offsets[i] as number)));
  return buf;
}
