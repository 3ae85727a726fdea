/**
 * Real containers (Debian's runc) with the cgroup layouts of kubelet (cgroupfs and systemd
 * drivers), Docker, CRI-O and Garden: a process exec'd in each must be exported with the right
 * `pod.container.id`, `pod.uid` and `docker` fields, and host-shaped cgroups with neither.
 * Layouts follow /work/shared/reference/cgroups.md §2.2–§4. The containers are started after the
 * agent, so their cgroups are learned from the cgroup_mkdir tracepoint.
 */
import assert from "node:assert/strict";
import {
  type AgentUnderTest,
  type ExportedEvent,
  marker,
  runProcess,
  startAgentProcess,
} from "../_helpers/agent_process.ts";
import {
  containerId64,
  type ExpectedWorkload,
  gardenInstanceGuid,
  randomHex,
  RuncSession,
  workloadMismatch,
} from "../_helpers/runc.ts";
import { requires } from "../_helpers/requires.ts";

interface Layout {
  readonly name: string;
  /** `linux.cgroupsPath`; null: run on the host, outside any container. */
  readonly path: string | null;
  /** null: not a container (host-shaped cgroup). */
  readonly expect: ExpectedWorkload | null;
}

/** The exec of `/bin/true <tag>` (not of `runc exec ... <tag>`, which carries the tag too). */
function execOf(e: ExportedEvent, tag: string): boolean {
  const p = e.process_exec?.process;
  return p?.binary === "/bin/true" && p.arguments === tag;
}

function exitOf(e: ExportedEvent, execId: string): boolean {
  return e.process_exit?.process?.exec_id === execId;
}

/** Starts a container at `layout.path`, execs `/bin/true <tag>` in it, checks exec and exit. */
async function checkLayout(
  agent: AgentUnderTest,
  session: RuncSession,
  layout: Layout,
): Promise<void> {
  const tag = marker();
  let ran: { pid: number; code: number; stderr?: string };
  if (layout.path === null) {
    ran = await runProcess("/bin/true", [tag]);
  } else {
    await using container = await session.start(layout.path);
    ran = await container.exec(["/bin/true", tag]);
  }
  assert.equal(ran.code, 0, String(ran.stderr));
  const [exec] = await agent.waitFor((e) => execOf(e, tag));
  const p = exec!.process_exec.process;
  assert.equal(p.pid, ran.pid, "the event is the exec'd process (host pid)");
  const where = `${layout.path ?? "the host"} (exec ${JSON.stringify(p)})`;
  assert.equal(workloadMismatch(p, layout.expect), null, `exec in ${where}`);
  const [exit] = await agent.waitFor((e) => exitOf(e, p.exec_id));
  const x = exit!.process_exit.process;
  assert.equal(workloadMismatch(x, layout.expect), null, `exit in ${where}`);
}

async function checkLayouts(t: Deno.TestContext, layouts: readonly Layout[]): Promise<void> {
  await using session = await RuncSession.open();
  await using agent = await startAgentProcess();
  let failed = 0;
  for (const layout of layouts) {
    if (!await t.step(layout.name, () => checkLayout(agent, session, layout))) failed++;
  }
  assert.equal(failed, 0, `${failed} of ${layouts.length} layouts failed`);
}

/** The systemd driver escapes `-` in the pod UID as `_`. */
function escaped(uid: string): string {
  return uid.replaceAll("-", "_");
}

Deno.test({
  ...requires(
    "kubepods, kubelet cgroupfs driver: container id and pod UID of every QoS class",
    "runc",
  ),
  async fn(t) {
    const [a, b, c, d] = [
      crypto.randomUUID(),
      crypto.randomUUID(),
      crypto.randomUUID(),
      randomHex(32),
    ];
    const [ia, ib, ic, id, ie] = [1, 2, 3, 4, 5].map(() => containerId64()) as string[];
    await checkLayouts(t, [
      {
        name: "burstable: /kubepods/burstable/pod<uid>/<id> (containerd CRI)",
        path: `/kubepods/burstable/pod${a}/${ia}`,
        expect: { runtime: "containerd", id: ia!, podUid: a },
      },
      {
        name: "besteffort: /kubepods/besteffort/pod<uid>/<id>",
        path: `/kubepods/besteffort/pod${b}/${ib}`,
        expect: { runtime: "containerd", id: ib!, podUid: b },
      },
      {
        name: "guaranteed: /kubepods/pod<uid>/<id>",
        path: `/kubepods/pod${c}/${ic}`,
        expect: { runtime: "containerd", id: ic!, podUid: c },
      },
      {
        name: "static pod (32-hex UID): /kubepods/burstable/pod<hash>/<id>",
        path: `/kubepods/burstable/pod${d}/${id}`,
        expect: { runtime: "containerd", id: id!, podUid: d },
      },
      {
        name: "CRI-O: /kubepods/burstable/pod<uid>/crio-<id>",
        path: `/kubepods/burstable/pod${a}/crio-${ie}`,
        expect: { runtime: "cri-o", id: ie!, podUid: a },
      },
    ]);
  },
});

Deno.test({
  ...requires("kubepods, kubelet systemd driver shapes: escaped pod UID is restored", "runc"),
  async fn(t) {
    const [a, b, c] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const [ia, ib, ic, id] = [1, 2, 3, 4].map(() => containerId64()) as string[];
    const burstable = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${
      escaped(a)
    }.slice`;
    await checkLayouts(t, [
      {
        name: "burstable: .../kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope",
        path: `${burstable}/cri-containerd-${ia}.scope`,
        expect: { runtime: "containerd", id: ia!, podUid: a },
      },
      {
        name: "guaranteed: /kubepods.slice/kubepods-pod<uid_>.slice/cri-containerd-<id>.scope",
        path: `/kubepods.slice/kubepods-pod${escaped(b)}.slice/cri-containerd-${ib}.scope`,
        expect: { runtime: "containerd", id: ib!, podUid: b },
      },
      {
        name: "CRI-O besteffort: .../kubepods-besteffort-pod<uid_>.slice/crio-<id>.scope",
        path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${
          escaped(c)
        }.slice/crio-${ic}.scope`,
        expect: { runtime: "cri-o", id: ic!, podUid: c },
      },
      {
        name: "containerd cgroupfs driver with systemd parent: <pod slice>:cri-containerd:<id>",
        path: `${burstable}:cri-containerd:${id}`,
        expect: { runtime: "containerd", id: id!, podUid: a },
      },
    ]);
  },
});

Deno.test({
  ...requires("docker: cgroupfs (/docker/<id>) and systemd (docker-<id>.scope) drivers", "runc"),
  async fn(t) {
    const [ia, ib] = [containerId64(), containerId64()];
    await checkLayouts(t, [
      {
        name: "cgroupfs driver: /docker/<id>",
        path: `/docker/${ia}`,
        expect: { runtime: "docker", id: ia },
      },
      {
        name: "systemd driver: /system.slice/docker-<id>.scope",
        path: `/system.slice/docker-${ib}.scope`,
        expect: { runtime: "docker", id: ib },
      },
    ]);
  },
});

Deno.test({
  ...requires(
    "garden: instance and task GUID handles, init sub-cgroup, good/bad, tagged root",
    "runc",
  ),
  async fn(t) {
    const [h1, h2, h3, h4, h6] = [1, 2, 3, 4, 6].map(() => gardenInstanceGuid()) as string[];
    const task = crypto.randomUUID();
    await checkLayouts(t, [
      {
        name: "instance GUID (28 chars): /garden/<handle>",
        path: `/garden/${h1}`,
        expect: { runtime: "garden", id: h1! },
      },
      {
        name: "init sub-cgroup (containerd mode): /garden/<handle>/init",
        path: `/garden/${h2}/init`,
        expect: { runtime: "garden", id: h2! },
      },
      {
        name: "CPU throttling: /garden/good/<handle>",
        path: `/garden/good/${h3}`,
        expect: { runtime: "garden", id: h3! },
      },
      {
        name: "CPU throttling: /garden/bad/<handle>",
        path: `/garden/bad/${h4}`,
        expect: { runtime: "garden", id: h4! },
      },
      {
        name: "task GUID (36 chars): /garden/<task guid>",
        path: `/garden/${task}`,
        expect: { runtime: "garden", id: task },
      },
      {
        name: "gdn --tag root: /garden-<tag>/good/<handle>/init",
        path: `/garden-vigiltest/good/${h6}/init`,
        expect: { runtime: "garden", id: h6! },
      },
    ]);
  },
});

Deno.test({
  ...requires(
    "sub-cgroups resolve to the outermost container; podman, ECS, LXC, nerdctl, bpm",
    "runc",
  ),
  async fn(t) {
    const [a, b, c, d, e, f, g, h] = [1, 2, 3, 4, 5, 6, 7, 8].map(() =>
      containerId64()
    ) as string[];
    const [handle, pea] = [gardenInstanceGuid(), crypto.randomUUID()];
    const uid = crypto.randomUUID();
    const task = randomHex(32);
    const name = `vigiltest${randomHex(6)}`;
    await checkLayouts(t, [
      {
        name: "systemd inside a docker container: /system.slice/docker-<id>.scope/init.scope",
        path: `/system.slice/docker-${a}.scope/init.scope`,
        expect: { runtime: "docker", id: a! },
      },
      {
        name: "docker in docker: /docker/<outer>/docker/<inner>",
        path: `/docker/${b}/docker/${c}`,
        expect: { runtime: "docker", id: b! },
      },
      {
        name: "crun's container sub-cgroup: .../crio-<id>.scope/container",
        path: `/kubepods.slice/kubepods-pod${escaped(uid)}.slice/crio-${d}.scope/container`,
        expect: { runtime: "cri-o", id: d!, podUid: uid },
      },
      {
        name: "garden as garden.service with a relative v1 path: .../garden.service/garden/<h>",
        path: `/system.slice/garden.service/garden/${handle}`,
        expect: { runtime: "garden", id: handle },
      },
      {
        name: "garden pea: /garden/<sandbox handle>/<process guid>",
        path: `/garden/${handle}/${pea}`,
        expect: { runtime: "garden", id: handle },
      },
      {
        name: "podman (root): /machine.slice/libpod-<id>.scope/container",
        path: `/machine.slice/libpod-${e}.scope/container`,
        expect: { runtime: "podman", id: e! },
      },
      {
        name:
          "podman (rootless): /user.slice/user-1000.slice/user@1000.service/.../libpod-<id>.scope",
        path: `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${f}.scope`,
        expect: { runtime: "podman", id: f! },
      },
      {
        name: "ECS on EC2: /ecs/<task>/<id>",
        path: `/ecs/${task}/${g}`,
        expect: { runtime: "ecs", id: g! },
      },
      {
        name: "LXC: /lxc.payload.<name>",
        path: `/lxc.payload.${name}`,
        expect: { runtime: "lxc", id: name },
      },
      {
        name: "containerd namespace: /default/<name>",
        path: `/default/${name}`,
        expect: { runtime: "containerd", id: name },
      },
      {
        name: "nerdctl: /system.slice/nerdctl-<id>.scope",
        path: `/system.slice/nerdctl-${h}.scope`,
        expect: { runtime: "containerd", id: h! },
      },
      {
        name: "BOSH bpm: /bpm-<job>.scope",
        path: `/bpm-${name}.scope`,
        expect: { runtime: "bpm", id: name },
      },
    ]);
  },
});

Deno.test({
  ...requires("host-shaped cgroups and host processes carry no docker/pod fields", "runc"),
  async fn(t) {
    const uid = crypto.randomUUID();
    const hex = containerId64();
    await checkLayouts(t, [
      {
        name: "a pod's own cgroup: /kubepods/burstable/pod<uid>",
        path: `/kubepods/burstable/pod${uid}`,
        expect: null,
      },
      {
        name: "CRI-O's monitor: .../kubepods-burstable-pod<uid_>.slice/crio-conmon-<id>.scope",
        path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${
          escaped(uid)
        }.slice/crio-conmon-${hex}.scope`,
        expect: null,
      },
      {
        name: "a system service: /system.slice/vigil-test-<hex>.service",
        path: `/system.slice/vigil-test-${randomHex(8)}.service`,
        expect: null,
      },
      {
        name: "garden with a handle that is no GUID: /garden/<name>",
        path: `/garden/vigil-test-${randomHex(8)}`,
        expect: null,
      },
      { name: "a process of the host itself", path: null, expect: null },
    ]);
  },
});

Deno.test({
  ...requires(
    "pod.container.pid is the process's pid inside the container's pid namespace",
    "runc",
  ),
  async fn() {
    await using session = await RuncSession.open();
    await using agent = await startAgentProcess();
    await using container = await session.start(
      `/kubepods/besteffort/pod${crypto.randomUUID()}/${containerId64()}`,
    );
    const tag = marker();
    // The shell prints its own pid as the container sees it, then becomes /bin/true.
    const ran = await container.exec(["/bin/sh", "-c", `echo $$; exec /bin/true ${tag}`]);
    assert.equal(ran.code, 0, String(ran.stderr));
    const inside = Number(ran.stdout.trim());
    const [exec] = await agent.waitFor((e) =>
      e.process_exec?.process?.binary === "/bin/true" &&
      e.process_exec.process.arguments === tag
    );
    const p = exec!.process_exec.process;
    assert.equal(p.pod.container.pid, inside);
    assert.notEqual(p.pod.container.pid, p.pid, "the container has its own pid namespace");
  },
});
