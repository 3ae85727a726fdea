import assert from "node:assert/strict";
import { parseContainerPath } from "../../src/cgroup/container.ts";
import { decideHierarchy } from "../../src/cgroup/hierarchy.ts";
import { detectCgroupMode } from "../../src/cgroup/mode.ts";
import { type MountInfo, parseMountinfo } from "../../src/cgroup/mountinfo.ts";
import { type HostProbe, offlineProbe } from "../../src/cgroup/probe.ts";
import { parseProcCgroups } from "../../src/cgroup/proc_cgroups.ts";
import { chooseTarget } from "../../src/cgroup/target.ts";
import { taskCgroupFor } from "../../src/cgroup/task_cgroup.ts";
import { findCoveringMount } from "../../src/cgroup/visibility.ts";
import { FIXTURE_NAMES, loadFixture } from "./_fixtures.ts";

for (const name of FIXTURE_NAMES) {
  Deno.test(`decideHierarchy() picks the expected hierarchy on fixture ${name}`, () => {
    const f = loadFixture(name);
    const d = decideHierarchy(f, f.probe);
    const e = f.expected;
    assert.equal(d.mode, e.mode);
    assert.deepEqual(d.selector, e.selector);
    assert.equal(d.chosen?.mountpoint ?? null, e.root, d.log.join("\n"));
    assert.deepEqual(
      d.privateMount &&
        {
          fstype: d.privateMount.fstype,
          options: d.privateMount.options,
          enterCgroupNs: d.privateMount.enterCgroupNs,
        },
      e.privateMount,
    );
    for (const { mountId, includes } of e.reasons) {
      const c = d.candidates.find((c) => c.mountId === mountId && c.origin === "agent");
      assert.ok(c, `candidate for mount ${mountId}`);
      assert.ok(c.reason.includes(includes), `mount ${mountId}: '${c.reason}' lacks '${includes}'`);
    }
    // Every relevant candidate carries a verdict an operator can read; nothing is left unexplained.
    for (const c of d.candidates) assert.match(c.reason, /^(accepted|rejected|ignored)/);

    const target = d.target;
    assert.ok(target);
    const line = taskCgroupFor(
      f.taskCgroups,
      target.kind === "controller" ? target.controller : undefined,
    );
    assert.deepEqual(line ? parseContainerPath(line.path) : null, e.container);
  });
}

// --- The strategies other agents shipped, each alone. They must each pick wrong somewhere. ---

type Strategy = (mounts: MountInfo[], stat: (path: string) => bigint | undefined) => string | null;

const STRATEGIES: Record<string, Strategy> = {
  "first match": (ms) => ms[0]?.mountPoint ?? null,
  "last match": (ms) => ms.at(-1)?.mountPoint ?? null,
  "root '/' alone": (ms) => ms.find((m) => m.root === "/")?.mountPoint ?? null,
  "lowest inode alone": (ms, stat) => {
    let best: MountInfo | undefined;
    for (const m of ms) {
      const ino = stat(m.mountPoint);
      const bestIno = best && stat(best.mountPoint);
      if (ino !== undefined && (bestIno === undefined || ino < bestIno)) best = m;
    }
    return best?.mountPoint ?? null;
  },
  "longest path": (ms) =>
    [...ms].sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0]?.mountPoint ?? null,
};

/** Candidates as the strongest form of each strategy sees them: only the target hierarchy's mounts. */
function targetMounts(name: string): { mounts: MountInfo[]; all: MountInfo[] } {
  const f = loadFixture(name);
  const target = chooseTarget(detectCgroupMode(f).mode, f);
  assert.ok(target);
  const all = f.mounts.filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2");
  const mounts = all.filter((m) =>
    target.kind === "unified"
      ? m.fsType === "cgroup2"
      : m.fsType === "cgroup" && m.superOptions.includes(target.controller)
  );
  return { mounts, all };
}

/** A pick is right when it is a genuine root, or null when there is none to pick. */
function isRight(pick: string | null, genuine: readonly string[]): boolean {
  return pick === null ? genuine.length === 0 : genuine.includes(pick);
}

for (const [strategy, pick] of Object.entries(STRATEGIES)) {
  Deno.test(`decideHierarchy() is right where '${strategy}' alone picks wrong`, () => {
    const wrongOn: string[] = [];
    for (const name of FIXTURE_NAMES) {
      const f = loadFixture(name);
      const stat = (p: string) => f.stat.get(p)?.ino;
      const chosen = pick(targetMounts(name).mounts, stat);
      if (!isRight(chosen, f.expected.genuineRoots)) wrongOn.push(`${name} (picked ${chosen})`);
      // vigil itself: the expected decision on every fixture, never a non-genuine own mount.
      const d = decideHierarchy(f, f.probe);
      assert.equal(d.chosen?.mountpoint ?? null, f.expected.root, name);
      if (d.chosen?.origin === "agent") {
        assert.ok(f.expected.genuineRoots.includes(d.chosen.mountpoint));
      }
    }
    assert.ok(wrongOn.length > 0, `'${strategy}' was never wrong: the fixtures do not catch it`);
  });
}

Deno.test("naive strategies that ignore the mode fail on the TAS reverse-ordered hybrid layout", () => {
  // The field history: agents that took "the cgroup mount" without asking which hierarchy BPF
  // reads. On TAS the lines are reversed, so the last one is the nested /sys/fs/cgroup/unified.
  const f = loadFixture("tas_hybrid_reverse");
  const { all } = targetMounts("tas_hybrid_reverse");
  const stat = (p: string) => f.stat.get(p)?.ino;
  assert.equal(STRATEGIES["last match"]?.(all, stat), "/sys/fs/cgroup/unified");
  assert.equal(STRATEGIES["longest path"]?.(all, stat), "/sys/fs/cgroup/net_cls,net_prio");
  for (const [strategy, pick] of Object.entries(STRATEGIES)) {
    assert.ok(!isRight(pick(all, stat), f.expected.genuineRoots), strategy);
  }
  assert.equal(decideHierarchy(f, f.probe).chosen?.mountpoint, "/sys/fs/cgroup/memory");
});

// --- Offline behaviour: live checks are skipped, never guessed. ---

Deno.test("decideHierarchy() reports live checks as skipped (offline) on captured files", () => {
  const f = loadFixture("this_machine_hybrid");
  const d = decideHierarchy(f, offlineProbe());
  assert.equal(d.chosen?.mountpoint, "/sys/fs/cgroup/memory");
  const inode = d.chosen?.checks.find((c) => c.name === "inode");
  const ns = d.chosen?.checks.find((c) => c.name === "namespace");
  assert.deepEqual([inode?.status, inode?.detail], ["skipped", "skipped (offline)"]);
  assert.deepEqual([ns?.status, ns?.detail], ["skipped", "skipped (offline)"]);
  assert.match(
    d.chosen?.reason ?? "",
    /^accepted offline: .*inode and namespace checks skipped \(offline\)$/,
  );
  assert.match(d.log.join("\n"), /not cross-checked: skipped \(offline\)/);
});

Deno.test("decideHierarchy() proves a private namespace from '/..' in captured files", () => {
  const f = loadFixture("private_cgroupns_v2");
  const d = decideHierarchy(f, offlineProbe());
  assert.equal(d.namespace.kind, "private");
  assert.equal(d.chosen, null);
  assert.ok(d.candidates.every((c) => !c.accepted));
  assert.match(d.privateMount?.reason ?? "", /host cgroup namespace must be entered first/);
});

Deno.test("decideHierarchy() rejects the EKS pod cgroupfs offline by its root alone", () => {
  const f = loadFixture("eks_al2023_v2_pod");
  const d = decideHierarchy(f, offlineProbe());
  assert.equal(d.chosen, null);
  assert.match(d.candidates[0]?.reason ?? "", /root '\/kubepods\.slice\/.*' is a sub-tree/);
  assert.equal(d.privateMount?.fstype, "cgroup2");
});

// --- Pieces of the decision. ---

Deno.test("findCoveringMount() finds a mount stacked on the same mountpoint", () => {
  const f = loadFixture("this_machine_eks_namespace");
  const host = f.mounts.find((m) => m.mountId === 52) as MountInfo;
  const bind = f.mounts.find((m) => m.mountId === 65) as MountInfo;
  assert.equal(findCoveringMount(f.mounts, host)?.mountId, 65);
  assert.equal(findCoveringMount(f.mounts, bind), undefined);
});

Deno.test("findCoveringMount() finds a tmpfs mounted over a parent directory later", () => {
  const mounts = parseMountinfo([
    "1 1 8:1 / / rw - ext4 /dev/sda1 rw",
    "2 1 0:20 / /sys/fs/cgroup rw - tmpfs tmpfs rw",
    "3 2 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
    "4 1 0:40 / /sys/fs rw - tmpfs tmpfs rw", // mounted afterwards over /sys/fs
    "5 4 0:50 / /sys/fs/other rw - tmpfs tmpfs rw", // lives on top, covers nothing
  ].join("\n"));
  const memory = mounts[2] as MountInfo;
  assert.equal(findCoveringMount(mounts, memory)?.mountId, 4);
  assert.equal(findCoveringMount(mounts, mounts[4] as MountInfo), undefined);
  // A mount below the chain does not cover it.
  const below = parseMountinfo([
    "1 1 8:1 / / rw - ext4 /dev/sda1 rw",
    "2 1 0:20 / /sys/fs/cgroup rw - tmpfs tmpfs rw",
    "3 2 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
    "6 3 0:30 /a /sys/fs/cgroup/memory/a rw - cgroup cgroup rw,memory",
  ].join("\n"));
  assert.equal(findCoveringMount(below, below[2] as MountInfo), undefined);
});

Deno.test("detectCgroupMode() decides from filesystems, not paths", () => {
  const mounts = (text: string) => parseMountinfo(text);
  const hybrid = mounts(
    "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n" +
      "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n" +
      "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
  );
  assert.equal(detectCgroupMode({ mounts: hybrid }).mode, "hybrid");
  // Only a named v1 hierarchy (systemd's compat mount) next to cgroup2: still v2.
  assert.equal(detectCgroupMode({ mounts: hybrid.filter((m) => m.mountId !== 35) }).mode, "v2");
  // Nothing mounted, but the kernel binds memory to a v1 hierarchy: v1 (e.g. bpm containers).
  assert.equal(
    detectCgroupMode({ mounts: [], subsystems: parseProcCgroups("memory 4 10 1\npids 0 1 1\n") })
      .mode,
    "v1",
  );
});

Deno.test("chooseTarget() prefers memory, then pids, then cpuset, then kernel order", () => {
  const pick = (text: string) => {
    const t = chooseTarget("v1", { mounts: [], subsystems: parseProcCgroups(text) });
    return t?.kind === "controller" ? [t.controller, t.lineIndex, t.hierarchyControllers] : t;
  };
  assert.deepEqual(pick("cpuset 3 1 1\ncpu 1 1 1\nmemory 4 1 1\npids 8 1 1\n"), ["memory", 2, [
    "memory",
  ]]);
  assert.deepEqual(pick("cpuset 3 1 1\nmemory 0 1 1\npids 8 1 1\n"), ["pids", 2, ["pids"]]);
  assert.deepEqual(pick("cpuset 3 1 1\nmemory 4 1 0\n"), ["cpuset", 0, ["cpuset"]]);
  // Co-mounted controllers are all needed to mount the hierarchy again.
  assert.deepEqual(pick("cpuset 0 1 1\ncpu 2 1 1\ncpuacct 2 1 1\n"), ["cpu", 1, [
    "cpu",
    "cpuacct",
  ]]);
  assert.equal(pick("cpuset 0 1 1\nmemory 0 1 1\n"), null);
});

Deno.test("decideHierarchy() trusts BTF's enum over a shifted /proc/cgroups line position", () => {
  // Linux >= 6.11 without CONFIG_MEMCG_V1/CONFIG_CPUSETS_V1 leaves cpuset and memory out of
  // /proc/cgroups, so pids sits on line 9 while the kernel's pids_cgrp_id is 11.
  const subsystems = parseProcCgroups(
    "cpu 2 1 1\ncpuacct 2 1 1\nblkio 3 1 1\ndevices 4 1 1\nfreezer 5 1 1\nnet_cls 6 1 1\n" +
      "perf_event 7 1 1\nnet_prio 6 1 1\nhugetlb 8 1 1\npids 9 1 1\n",
  );
  const mounts = parseMountinfo("30 1 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n");
  const ids = new Map([["cpuset", 0], ["cpu", 1], ["memory", 4], ["pids", 11]]);
  const probe: HostProbe = { ...offlineProbe(), subsysIds: () => ({ status: "ok", value: ids }) };
  const d = decideHierarchy({ mounts, subsystems }, probe);
  assert.deepEqual(d.selector, { version: 1, controller: "pids", subsysIndex: 11, hierarchyId: 9 });
  assert.match(d.log.join("\n"), /line position 9 differs from enum cgroup_subsys_id 11/);
});

Deno.test("decideHierarchy() plans a private mount with every co-mounted controller", () => {
  const d = decideHierarchy(
    {
      mounts: [],
      subsystems: parseProcCgroups("cpuset 0 1 1\ncpu 2 1 1\ncpuacct 2 1 1\n"),
    },
    offlineProbe(),
  );
  assert.deepEqual(d.privateMount?.options, ["cpu", "cpuacct"]);
  assert.equal(d.privateMount?.fstype, "cgroup");
});

Deno.test("detectCgroupMode() takes a bare '0::/' line for no evidence of cgroup2, a deeper one for some", () => {
  const f = loadFixture("this_machine_v1_view");
  assert.ok(f.taskCgroups.some((l) => l.hierarchyId === 0 && l.path === "/"));
  assert.equal(detectCgroupMode(f).mode, "v1");
  // A task below the unified root: someone mounted cgroup2 and made that cgroup (hybrid host,
  // agent in a mount namespace that does not show the mount).
  const moved = f.taskCgroups.map((l) => l.hierarchyId === 0 ? { ...l, path: "/vigil.scope" } : l);
  const d = detectCgroupMode({ ...f, taskCgroups: moved });
  assert.equal(d.mode, "hybrid");
  assert.match(d.evidence, /unified cgroup '\/vigil.scope'/);
});
