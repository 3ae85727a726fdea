/**
 * Real containers (Debian's runc) across the agent's lifetime: containers that predate the agent
 * (known from the hierarchy walk at start), cgroups created after it (known from the cgroup_mkdir
 * tracepoint before the first exec in them), forks inside a container, a Garden container whose
 * processes move from `good/` to `bad/`, and the `docker` field's length.
 */
import assert from "node:assert/strict";
import { type ExportedEvent, marker, startAgentProcess } from "../_helpers/agent_process.ts";
import {
  cgroupMounts,
  containerId64,
  type ExpectedWorkload,
  gardenInstanceGuid,
  type RuncContainer,
  RuncSession,
  workloadMismatch,
} from "../_helpers/runc.ts";
import { requires } from "../_helpers/requires.ts";

/** An exec whose arguments include `tag` and whose binary is `binary`. */
function execOf(e: ExportedEvent, binary: string, tag: string): boolean {
  const p = e.process_exec?.process;
  return p?.binary === binary && (p.arguments?.includes(tag) ?? false);
}

function exitOfExecId(e: ExportedEvent, execId: string): boolean {
  return e.process_exit?.process?.exec_id === execId;
}

function exitOfPid(e: ExportedEvent, pid: number): boolean {
  return e.process_exit?.process?.pid === pid;
}

function assertWorkload(
  // deno-lint-ignore no-explicit-any
  process: any,
  expected: ExpectedWorkload | null,
  what: string,
): void {
  const mismatch = workloadMismatch(process, expected);
  assert.equal(mismatch, null, `${what}: ${mismatch}\nprocess: ${JSON.stringify(process)}`);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const escaped = (uid: string) => uid.replaceAll("-", "_");

Deno.test({
  ...requires(
    "containers started before the agent are known from the walk at start (exec and init exit)",
    "runc",
  ),
  async fn() {
    await using session = await RuncSession.open();
    const uid = crypto.randomUUID();
    const [crio, handle] = [containerId64(), gardenInstanceGuid()];
    const before = [
      {
        path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${
          escaped(uid)
        }.slice/crio-${crio}.scope`,
        expect: { runtime: "cri-o", id: crio, podUid: uid },
        initTag: marker(),
      },
      {
        path: `/garden/${handle}/init`,
        expect: { runtime: "garden", id: handle },
        initTag: marker(),
      },
    ];
    const containers: RuncContainer[] = [];
    for (const c of before) {
      containers.push(
        await session.start(c.path, { args: ["/bin/sh", "-c", "sleep 3600; :", c.initTag] }),
      );
    }
    await using agent = await startAgentProcess();
    for (const [i, c] of before.entries()) {
      const container = containers[i]!;
      const tag = marker();
      const ran = await container.exec(["/bin/true", tag]);
      assert.equal(ran.code, 0, ran.stderr);
      const [exec] = await agent.waitFor((e) => execOf(e, "/bin/true", tag));
      const p = exec!.process_exec.process;
      assert.equal(p.pid, ran.pid);
      assertWorkload(p, c.expect, `exec in pre-existing ${c.path}`);
      // The container's init was seeded from /proc at start; its exit carries the container too.
      await container.delete();
      const [initExit] = await agent.waitFor((e) => exitOfPid(e, container.pid));
      const x = initExit!.process_exit;
      assert(x.process.flags.split(" ").includes("procFS"), `init flags: ${x.process.flags}`);
      assert.equal(x.signal, "SIGKILL");
      assertWorkload(x.process, c.expect, `exit of pre-existing init in ${c.path}`);
    }
  },
});

Deno.test({
  ...requires(
    "a cgroup made after the agent started is known from cgroup_mkdir before its first exec",
    "runc",
  ),
  async fn() {
    await using session = await RuncSession.open();
    await using agent = await startAgentProcess();
    const [uid, id] = [crypto.randomUUID(), containerId64()];
    // kind's --cgroup-root layout; the pod slice (random UID) and everything below it are new.
    const pod = `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/` +
      `kubelet-kubepods-besteffort-pod${escaped(uid)}.slice`;
    const path = `${pod}/cri-containerd-${id}.scope`;
    for (const mount of cgroupMounts()) {
      assert(!exists(`${mount.mountpoint}${pod}`), `${mount.mountpoint}${pod} predates the agent`);
    }
    const expect = { runtime: "containerd", id, podUid: uid };
    const tag = marker();
    // The container's init exec is the first exec in its cgroup, right after runc's mkdir.
    await using container = await session.start(path, {
      args: ["/bin/sh", "-c", "sleep 3600; :", tag],
    });
    const [initExec] = await agent.waitFor((e) => execOf(e, "/bin/sh", tag));
    const init = initExec!.process_exec.process;
    assert.equal(init.pid, container.pid);
    assertWorkload(init, expect, "the container's first exec (its init)");
    // Its child: the exec and the parent object both carry the container.
    const [sleepExec] = await agent.waitFor((e) =>
      execOf(e, "/bin/sleep", "3600") && e.process_exec.parent?.exec_id === init.exec_id
    );
    assertWorkload(sleepExec!.process_exec.process, expect, "exec of the init's child");
    assertWorkload(sleepExec!.process_exec.parent, expect, "parent of the init's child");
  },
});

Deno.test({
  ...requires("a fork inside a container (no exec) exits with the container's fields", "runc"),
  async fn() {
    await using session = await RuncSession.open();
    await using agent = await startAgentProcess();
    const id = containerId64();
    const expect = { runtime: "docker", id };
    await using container = await session.start(`/docker/${id}`);
    const tag = marker();
    // The subshell is a fork of sh that never execs (sleep is its child), and exits 4.
    const ran = await container.exec([
      "/bin/sh",
      "-c",
      "(sleep 0.1; exit 4) & wait $!; echo $?; exit 0",
      tag,
    ]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), "4");
    const [shExec] = await agent.waitFor((e) => execOf(e, "/bin/sh", tag));
    const sh = shExec!.process_exec.process;
    assertWorkload(sh, expect, "exec of sh");
    const [forkExit] = await agent.waitFor((e) =>
      e.process_exit?.process?.parent_exec_id === sh.exec_id &&
      e.process_exit.process.flags === "clone"
    );
    const x = forkExit!.process_exit;
    assert.equal(x.status, 4);
    assert.equal(x.process.binary, sh.binary);
    assertWorkload(x.process, expect, "exit of the forked subshell");
    assertWorkload(x.parent, expect, "parent of the forked subshell");
    const [sleepExec] = await agent.waitFor((e) =>
      execOf(e, "/bin/sleep", "0.1") && e.process_exec.parent.exec_id === x.process.exec_id
    );
    assertWorkload(sleepExec!.process_exec.process, expect, "exec of sleep in the subshell");
    const [shExit] = await agent.waitFor((e) => exitOfExecId(e, sh.exec_id));
    assertWorkload(shExit!.process_exit.process, expect, "exit of sh");
  },
});

Deno.test({
  ...requires("garden: a process moved from good/<handle> to bad/<handle> stays in it", "runc"),
  async fn() {
    await using session = await RuncSession.open();
    await using agent = await startAgentProcess();
    const handle = gardenInstanceGuid();
    const expect = { runtime: "garden", id: handle };
    await using container = await session.start(`/garden/good/${handle}`);
    const [shTag, trueTag] = [marker(), marker()];
    const sh = container.spawnExec(["/bin/sh", "-c", 'read go; /bin/true "$1"', shTag, trueTag]);
    const pid = await sh.pid;
    const [shExec] = await agent.waitFor((e) => execOf(e, "/bin/sh", shTag));
    assertWorkload(shExec!.process_exec.process, expect, "exec of sh in good/");
    // What the CPU-throttling enforcer does: move the process to bad/<handle> (after the agent
    // started, so bad/ is learned from cgroup_mkdir). v1 cpuset needs cpus/mems before tasks.
    for (const mount of cgroupMounts()) {
      for (const sub of ["/garden/bad", `/garden/bad/${handle}`]) {
        const dir = `${mount.mountpoint}${sub}`;
        if (exists(dir)) continue;
        Deno.mkdirSync(dir);
        container.removeOnDispose(dir);
        for (const file of ["cpuset.cpus", "cpuset.mems"]) {
          if (!exists(`${dir}/${file}`)) continue;
          const parent = dir.slice(0, dir.lastIndexOf("/"));
          Deno.writeTextFileSync(`${dir}/${file}`, Deno.readTextFileSync(`${parent}/${file}`));
        }
      }
      Deno.writeTextFileSync(`${mount.mountpoint}/garden/bad/${handle}/cgroup.procs`, `${pid}\n`);
    }
    const cgroups = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
    assert.match(cgroups, new RegExp(`:/garden/bad/${handle}\n`), cgroups);
    assert.doesNotMatch(cgroups, /\/garden\/good\//, cgroups);
    await sh.write("go\n");
    assert.equal(await sh.wait(), 0);
    const [trueExec] = await agent.waitFor((e) => execOf(e, "/bin/true", trueTag));
    assertWorkload(trueExec!.process_exec.process, expect, "exec after the move to bad/");
  },
});

Deno.test({
  ...requires(
    "docker field is the container id's first 31 characters, as Tetragon prints it",
    "runc",
  ),
  async fn() {
    // Tetragon: `docker` = id[:BpfContainerIdLength] with BpfContainerIdLength = 31
    // (/work/shared/reference/tetragon.md §3: "docker (first 31 chars of the container id)").
    await using session = await RuncSession.open();
    await using agent = await startAgentProcess();
    for (const [shape, path] of [["docker", "/docker/"], ["containerd", "/kubepods/pod"]]) {
      const id = containerId64();
      const full = shape === "docker" ? `${path}${id}` : `${path}${crypto.randomUUID()}/${id}`;
      await using container = await session.start(full);
      const tag = marker();
      await container.exec(["/bin/true", tag]);
      const [exec] = await agent.waitFor((e) => execOf(e, "/bin/true", tag));
      const p = exec!.process_exec.process;
      assert.equal(p.pod?.container?.id, `${shape}://${id}`);
      assert.equal(p.docker, id.slice(0, 31), `docker field of ${full}`);
    }
  },
});
