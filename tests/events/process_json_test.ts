import assert from "node:assert/strict";
import {
  cachedProcessJson,
  decodeWaitStatus,
  execEventLine,
  exitEventLine,
  jsonString,
  processJson,
  signalName,
} from "../../src/events/process_json.ts";
import { ProcessCache } from "../../src/process/cache.ts";
import { execId } from "../../src/process/exec_id.ts";
import type { ProcessInfo } from "../../src/process/types.ts";

const NODE = "tetragon-dev-control-plane";
const TIME = "2026-08-21T10:11:12.123456789Z";

function info(overrides: Partial<ProcessInfo> = {}): ProcessInfo {
  return {
    pid: 64746,
    tid: 64746,
    ktime: 16817705012542n,
    execId: execId(NODE, 16817705012542n, 64746),
    parentPid: 64700,
    parentKtime: 16817000000000n,
    parentExecId: execId(NODE, 16817000000000n, 64700),
    binary: "/usr/bin/curl",
    arguments: '-s "https://example.com/a b"',
    cwd: "/home/user",
    uid: 1000,
    auid: 4294967295,
    flags: ["execve", "clone"],
    startTime: "2026-08-21T10:11:12.000000001Z",
    cgroupId: 4242n,
    refcnt: 1,
    ...overrides,
  };
}

const PARENT = info({
  pid: 64700,
  tid: 64700,
  ktime: 16817000000000n,
  execId: execId(NODE, 16817000000000n, 64700),
  parentPid: 1,
  parentKtime: 1000n,
  parentExecId: execId(NODE, 1000n, 1),
  binary: "/bin/bash",
  arguments: "",
  flags: ["procFS"],
});

Deno.test("processJson() prints Tetragon's process fields in order", () => {
  const p = info();
  assert.equal(
    processJson(p),
    `{"exec_id":"${p.execId}","pid":64746,"uid":1000,"cwd":"/home/user","binary":"/usr/bin/curl",` +
      `"arguments":"-s \\"https://example.com/a b\\"","flags":"execve clone",` +
      `"start_time":"2026-08-21T10:11:12.000000001Z","auid":4294967295,` +
      `"parent_exec_id":"${p.parentExecId}","tid":64746}`,
  );
  assert.deepEqual(JSON.parse(processJson(p)), {
    exec_id: p.execId,
    pid: 64746,
    uid: 1000,
    cwd: "/home/user",
    binary: "/usr/bin/curl",
    arguments: '-s "https://example.com/a b"',
    flags: "execve clone",
    start_time: "2026-08-21T10:11:12.000000001Z",
    auid: 4294967295,
    parent_exec_id: p.parentExecId,
    tid: 64746,
  });
});

Deno.test("processJson() omits zero values but keeps the wrapper fields pid/uid/tid/auid", () => {
  const p = info({
    pid: 0,
    tid: 0,
    uid: 0,
    auid: 0,
    execId: "",
    cwd: "",
    binary: "",
    arguments: "",
    flags: [],
    startTime: "",
    parentExecId: "",
  });
  assert.equal(processJson(p), '{"pid":0,"uid":0,"auid":0,"tid":0}');
});

Deno.test("processJson() adds extra fields after auid, bigints as strings, zeros omitted", () => {
  const p = info({
    extra: {
      pod: { namespace: "default", name: "web-1", container: { id: "containerd://abc" } },
      docker: "abc",
      cgroup_id: 18446744073709551615n,
      empty: "",
      zero: 0,
      none: undefined,
      nil: null,
      no: false,
      list: [],
    },
  });
  const parsed = JSON.parse(processJson(p));
  assert.deepEqual(Object.keys(parsed), [
    "exec_id",
    "pid",
    "uid",
    "cwd",
    "binary",
    "arguments",
    "flags",
    "start_time",
    "auid",
    "pod",
    "docker",
    "cgroup_id",
    "parent_exec_id",
    "tid",
  ]);
  assert.equal(parsed.cgroup_id, "18446744073709551615");
  assert.deepEqual(parsed.pod, {
    namespace: "default",
    name: "web-1",
    container: { id: "containerd://abc" },
  });
});

Deno.test("processJson() escapes strings that need it", () => {
  const p = info({ binary: '/tmp/we"ird\\bin\n', cwd: "/tmp/日本", arguments: "\u0001\ud800" });
  const parsed = JSON.parse(processJson(p));
  assert.equal(parsed.binary, '/tmp/we"ird\\bin\n');
  assert.equal(parsed.cwd, "/tmp/日本");
  assert.equal(parsed.arguments, "\u0001\ud800");
  assert.equal(jsonString("plain"), '"plain"');
});

Deno.test("cachedProcessJson() serializes once and the cache invalidates on change", () => {
  const cache = new ProcessCache();
  const p = cache.upsert(info());
  const first = cachedProcessJson(p);
  assert.equal(p.json, first);
  p.binary = "/changed"; // not through the cache: the cached text stays
  assert.equal(cachedProcessJson(p), first);
  cache.upsert(info({ binary: "/usr/bin/wget" }));
  assert.equal(p.json, undefined);
  assert.match(cachedProcessJson(p), /"binary":"\/usr\/bin\/wget"/);
});

Deno.test("execEventLine() builds a process_exec line", () => {
  const p = info();
  const line = execEventLine(p, PARENT, NODE, TIME);
  assert.ok(!line.includes("\n"));
  assert.equal(
    line,
    `{"process_exec":{"process":${processJson(p)},"parent":${
      processJson(PARENT)
    }},"node_name":"${NODE}","time":"${TIME}"}`,
  );
  assert.deepEqual(JSON.parse(line), {
    process_exec: { process: JSON.parse(processJson(p)), parent: JSON.parse(processJson(PARENT)) },
    node_name: NODE,
    time: TIME,
  });
});

Deno.test("execEventLine() omits an unknown parent and accepts serialized processes", () => {
  const line = execEventLine('{"pid":1}', undefined, "n", TIME);
  assert.equal(line, `{"process_exec":{"process":{"pid":1}},"node_name":"n","time":"${TIME}"}`);
});

Deno.test("exitEventLine() builds a process_exit line with signal, status and time", () => {
  const p = info();
  const killed = exitEventLine(p, PARENT, { signal: 9 }, NODE, TIME);
  assert.deepEqual(JSON.parse(killed), {
    process_exit: {
      process: JSON.parse(processJson(p)),
      parent: JSON.parse(processJson(PARENT)),
      signal: "SIGKILL",
      time: TIME,
    },
    node_name: NODE,
    time: TIME,
  });
  const exited = exitEventLine(p, undefined, { status: 3, signal: 0 }, NODE, TIME);
  assert.equal(
    exited,
    `{"process_exit":{"process":${
      processJson(p)
    },"status":3,"time":"${TIME}"},"node_name":"${NODE}","time":"${TIME}"}`,
  );
  const both = JSON.parse(
    exitEventLine(p, PARENT, { status: 1, signal: "SIGTERM", time: "T2" }, NODE, TIME),
  );
  assert.deepEqual(Object.keys(both.process_exit), [
    "process",
    "parent",
    "signal",
    "status",
    "time",
  ]);
  assert.equal(both.process_exit.time, "T2");
  const clean = JSON.parse(exitEventLine(p, PARENT, {}, NODE, TIME));
  assert.deepEqual(Object.keys(clean.process_exit), ["process", "parent", "time"]);
});

Deno.test("signalName() names Linux x86_64 signals", () => {
  assert.equal(signalName(0), "");
  assert.equal(signalName(1), "SIGHUP");
  assert.equal(signalName(9), "SIGKILL");
  assert.equal(signalName(11), "SIGSEGV");
  assert.equal(signalName(15), "SIGTERM");
  assert.equal(signalName(17), "SIGCHLD");
  assert.equal(signalName(31), "SIGSYS");
  assert.equal(signalName(32), "SIG32");
  assert.equal(signalName(34), "SIGRTMIN");
  assert.equal(signalName(35), "SIGRTMIN+1");
  assert.equal(signalName(49), "SIGRTMIN+15");
  assert.equal(signalName(50), "SIGRTMAX-14");
  assert.equal(signalName(63), "SIGRTMAX-1");
  assert.equal(signalName(64), "SIGRTMAX");
  assert.equal(signalName(65), "SIG65");
});

Deno.test("decodeWaitStatus() splits the kernel exit code", () => {
  assert.deepEqual(decodeWaitStatus(3 << 8), { status: 3, signal: 0 });
  assert.deepEqual(decodeWaitStatus(9), { status: 0, signal: 9 });
  assert.deepEqual(decodeWaitStatus(0x80 | 6), { status: 0, signal: 6 });
  assert.deepEqual(decodeWaitStatus(0), { status: 0, signal: 0 });
});
