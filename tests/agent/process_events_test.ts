/**
 * Real-kernel tests of process tracking: start the agent, run real processes, read the events.
 */
import assert from "node:assert/strict";
import {
  type ExportedEvent,
  marker,
  runProcess,
  startAgentProcess,
} from "../_helpers/agent_process.ts";
import { parseExecId } from "../../src/process/exec_id.ts";
import { requires } from "../_helpers/requires.ts";

const RFC3339_NS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

function execOf(e: ExportedEvent, tag: string): boolean {
  return e.process_exec?.process?.arguments?.includes(tag) ?? false;
}

function exitOf(e: ExportedEvent, tag: string): boolean {
  return e.process_exit?.process?.arguments?.includes(tag) ?? false;
}

Deno.test({
  ...requires(
    "vigil run exports exec and exit of /bin/true with Tetragon's fields and parent linkage",
    "root",
  ),
  async fn() {
    await using agent = await startAgentProcess();
    const tag = marker();
    const cwd = await Deno.makeTempDir();
    const ran = await runProcess("/bin/true", [tag, "two words"], { cwd });
    assert.deepEqual(ran.code, 0);
    const [exec] = await agent.waitFor((e) => execOf(e, tag));
    const [exit] = await agent.waitFor((e) => exitOf(e, tag));
    const p = exec!.process_exec.process;
    assert.deepEqual(p.pid, ran.pid);
    assert.deepEqual(p.tid, ran.pid);
    assert.deepEqual(p.binary, "/bin/true");
    assert.deepEqual(p.arguments, `${tag} "two words"`);
    assert.deepEqual(p.cwd, cwd);
    assert.deepEqual(p.uid, Deno.uid());
    assert.deepEqual(p.flags, "execve");
    assert.match(p.start_time, RFC3339_NS);
    assert.match(exec!.time, RFC3339_NS);
    assert.deepEqual(exec!.node_name, Deno.hostname());
    assert(typeof p.auid === "number");
    // exec_id is base64("node:ktime:pid"); the parent is this test process, which predates the agent.
    const id = parseExecId(p.exec_id);
    assert.deepEqual(id.nodeName, Deno.hostname());
    assert.deepEqual(id.pid, ran.pid);
    const parent = exec!.process_exec.parent;
    assert.deepEqual(parent.pid, Deno.pid);
    assert.deepEqual(p.parent_exec_id, parent.exec_id);
    assert(parent.flags.split(" ").includes("procFS"), `parent flags: ${parent.flags}`);
    // The exit belongs to the same process instance; status 0 is omitted as in protojson.
    const x = exit!.process_exit;
    assert.deepEqual(x.process.exec_id, p.exec_id);
    assert.deepEqual(x.parent.exec_id, parent.exec_id);
    assert.deepEqual(x.status, undefined);
    assert.deepEqual(x.signal, undefined);
    await Deno.remove(cwd);
  },
});

Deno.test({
  ...requires("vigil run reports a shell's exit status 3", "root"),
  async fn() {
    await using agent = await startAgentProcess();
    const tag = marker();
    const ran = await runProcess("/bin/sh", ["-c", `exit 3 # ${tag}`]);
    assert.deepEqual(ran.code, 3);
    const [exit] = await agent.waitFor((e) => exitOf(e, tag));
    assert.deepEqual(exit!.process_exit.status, 3);
    assert.deepEqual(exit!.process_exit.signal, undefined);
    assert.deepEqual(exit!.process_exit.process.pid, ran.pid);
  },
});

Deno.test({
  ...requires("vigil run reports the signal that killed a process", "root"),
  async fn() {
    await using agent = await startAgentProcess();
    const tag = marker();
    // Blocks in read until killed.
    const child = new Deno.Command("/bin/sh", { args: ["-c", `read x # ${tag}`], stdin: "piped" })
      .spawn();
    await agent.waitFor((e) => execOf(e, tag));
    child.kill("SIGKILL");
    await child.status;
    const [exit] = await agent.waitFor((e) => exitOf(e, tag));
    assert.deepEqual(exit!.process_exit.signal, "SIGKILL");
    assert.deepEqual(exit!.process_exit.process.pid, child.pid);
  },
});

Deno.test({
  ...requires(
    "vigil run tracks a fork without exec: its exit carries the parent's image and linkage",
    "root",
  ),
  async fn() {
    await using agent = await startAgentProcess();
    const tag = marker();
    // The background function runs in a forked subshell that never execs, then exits 7.
    const script = `f() { exit 7; }; f & wait $!; echo "$!" > "$0"; exit 0 # ${tag}`;
    const pidFile = await Deno.makeTempFile();
    const ran = await runProcess("/bin/sh", ["-c", script, pidFile]);
    assert.deepEqual(ran.code, 0);
    const forkedPid = Number(Deno.readTextFileSync(pidFile).trim());
    await Deno.remove(pidFile);
    const [shellExec] = await agent.waitFor((e) =>
      execOf(e, tag) && e.process_exec.process.pid === ran.pid
    );
    const [forkExit] = await agent.waitFor((e) => e.process_exit?.process?.pid === forkedPid);
    const x = forkExit!.process_exit;
    assert.deepEqual(x.status, 7);
    assert.deepEqual(x.process.flags, "clone");
    assert.deepEqual(x.process.binary, shellExec!.process_exec.process.binary);
    assert.deepEqual(x.process.parent_exec_id, shellExec!.process_exec.process.exec_id);
    assert.deepEqual(x.parent.pid, ran.pid);
    // A fork is a new process instance: its own exec id, not its parent's.
    assert(x.process.exec_id !== shellExec!.process_exec.process.exec_id);
  },
});

Deno.test({
  ...requires("vigil run knows processes that started before it (procFS) as parents", "root"),
  async fn() {
    const tag = marker();
    // Started before the agent; execs a child only once told to.
    const shell = new Deno.Command("/bin/sh", {
      args: ["-c", `read go; /bin/true ${tag}`],
      stdin: "piped",
      stdout: "null",
    }).spawn();
    await using agent = await startAgentProcess();
    const writer = shell.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    await writer.close();
    await shell.status;
    const [exec] = await agent.waitFor((e) => execOf(e, tag));
    const parent = exec!.process_exec.parent;
    assert.deepEqual(parent.pid, shell.pid);
    assert(parent.flags.split(" ").includes("procFS"), `parent flags: ${parent.flags}`);
    assert.deepEqual(parent.binary, Deno.realPathSync("/bin/sh"));
    assert.deepEqual(parent.arguments, `-c "read go; /bin/true ${tag}"`);
    assert.deepEqual(exec!.process_exec.process.parent_exec_id, parent.exec_id);
  },
});

Deno.test({
  ...requires(
    "vigil run truncates long argument lists with truncArgs instead of dropping them",
    "root",
  ),
  async fn() {
    await using agent = await startAgentProcess();
    const tag = marker();
    const long = Array.from({ length: 400 }, (_, i) => `argument-${i}-${"x".repeat(40)}`);
    await runProcess("/bin/true", [tag, ...long]);
    const [exec] = await agent.waitFor((e) => execOf(e, tag));
    const p = exec!.process_exec.process;
    assert(p.flags.split(" ").includes("truncArgs"), `flags: ${p.flags}`);
    assert(p.arguments.startsWith(`${tag} argument-0-`));
    assert(p.arguments.length < long.join(" ").length);
  },
});

Deno.test({
  ...requires("vigil run resolves a relative binary against the cwd", "root"),
  async fn() {
    await using agent = await startAgentProcess();
    const tag = marker();
    const dir = await Deno.makeTempDir();
    Deno.copyFileSync("/bin/true", `${dir}/mytrue`);
    Deno.chmodSync(`${dir}/mytrue`, 0o755);
    await runProcess("/bin/sh", ["-c", `./mytrue ${tag}`], { cwd: dir });
    const [exec] = await agent.waitFor((e) =>
      execOf(e, tag) && e.process_exec.process.binary.endsWith("mytrue")
    );
    assert.deepEqual(exec!.process_exec.process.binary, `${dir}/mytrue`);
    await Deno.remove(dir, { recursive: true });
  },
});
