/**
 * Policy events: records built at the generated offsets of struct vigil_policy_event are decoded
 * and exported in Tetragon's JSON shape (tetragon.md §3). Decoding itself: tests/events.
 */
import assert from "node:assert/strict";
import { ENUMS } from "../../src/bpf/abi.gen.ts";
import { hookEventInfo, policyEventLine } from "../../src/policy/event_json.ts";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import type { PlannedHook } from "../../src/policy/plan/mod.ts";
import { decoded, type RecordSpec } from "../events/_policy_record.ts";
import { facts, onlyHook, planSpec, policyFile } from "./plan_fixtures.ts";

const TIME = "2026-11-22T05:41:46.123456789Z";
const PROCESS =
  '{"exec_id":"bm9kZToxOjI=","pid":42,"uid":0,"binary":"/usr/bin/rm","auid":0,"tid":42}';
const PARENT = '{"exec_id":"bm9kZToxOjE=","pid":1,"uid":0,"binary":"/bin/sh","auid":0,"tid":1}';

function line(hook: PlannedHook, spec: RecordSpec): Record<string, unknown> {
  const text = policyEventLine(decoded(spec), hookEventInfo(hook), PROCESS, PARENT, "node-1", TIME);
  assert.equal(text.includes("\n"), false);
  return JSON.parse(text);
}

Deno.test("policyEventLine() builds process_kprobe for a syscall hook, as Tetragon prints it", () => {
  const hook = planPolicy(policyFile("policies/file_deletion.yaml"), facts()).hooks[0];
  assert.ok(hook);
  const text = policyEventLine(
    decoded({ ints: [-100n, 0x7ffd1000n, 0n], data: ["", "/tmp/x", ""] }),
    hookEventInfo(hook),
    PROCESS,
    PARENT,
    "node-1",
    TIME,
  );
  assert.equal(
    text,
    `{"process_kprobe":{"process":${PROCESS},"parent":${PARENT},` +
      `"function_name":"__x64_sys_unlinkat","args":[{"int_arg":-100,"label":"dirfd"},` +
      `{"string_arg":"/tmp/x","label":"pathname"},{"int_arg":0,"label":"flags"}],` +
      `"action":"KPROBE_ACTION_POST","policy_name":"file-deletion",` +
      `"message":"file or directory deleted","tags":["observability.filesystem"]},` +
      `"node_name":"node-1","time":"${TIME}"}`,
  );
});

Deno.test("policyEventLine() builds process_tracepoint with subsys/event as written", () => {
  const plan = planPolicy(
    policyFile("tests/fixtures/policy/file_deletion_expensive.yaml"),
    facts(),
  );
  const hook = plan.hooks[2];
  assert.ok(hook);
  const ev = line(hook, { ints: [263n] });
  assert.deepEqual(Object.keys(ev), ["process_tracepoint", "node_name", "time"]);
  assert.deepEqual(ev.process_tracepoint, {
    process: JSON.parse(PROCESS),
    parent: JSON.parse(PARENT),
    subsys: "raw_syscalls",
    event: "sys_enter",
    args: [{ syscall_id: { id: 263, abi: "x64" }, label: "id" }],
    policy_name: "file-deletion-expensive",
    action: "KPROBE_ACTION_POST",
    message: "file or directory deleted",
    tags: ["observability.filesystem"],
  });
});

Deno.test("policyEventLine() exports sockaddr args as family, addr and port", () => {
  const hook = onlyHook(planPolicy(policyFile("policies/connect_port.yaml"), facts()));
  const v4 = new Uint8Array(28);
  v4.set([2, 0, 0x11, 0x5c, 10, 1, 2, 3]);
  const v6 = new Uint8Array(28);
  v6.set([10, 0, 0x11, 0x5c]);
  v6.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  const mapped = new Uint8Array(28);
  mapped.set([10, 0, 0, 80]);
  mapped.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 1], 8);
  const args = (sa: Uint8Array) =>
    (line(hook, { ints: [3n, 0x7ffd0000n], data: [new Uint8Array(0), sa] }).process_kprobe as {
      args: unknown[];
    }).args;
  assert.deepEqual(args(v4), [
    { int_arg: 3, label: "sockfd" },
    { sockaddr_arg: { family: "AF_INET", addr: "10.1.2.3", port: 4444 }, label: "address" },
  ]);
  assert.deepEqual(args(v6)[1], {
    sockaddr_arg: { family: "AF_INET6", addr: "2001:db8::1", port: 4444 },
    label: "address",
  });
  assert.deepEqual(args(mapped)[1], {
    sockaddr_arg: { family: "AF_INET6", addr: "192.168.0.1", port: 80 },
    label: "address",
  });
});

Deno.test("policyEventLine() exports the return value of exit hooks and the action taken", () => {
  const plan = planSpec([
    "  kprobes:",
    "  - call: sys_unlinkat",
    "    return: true",
    "    returnArg:",
    "      index: 0",
    "      type: int",
    "      label: err",
  ]);
  const exit = plan.hooks[1];
  assert.ok(exit);
  const ev = line(exit, {
    ints: [BigInt.asUintN(64, -2n)],
    ret: -2n,
    action: ENUMS.vigil_action_kind.VIGIL_ACT_SIGKILL,
  }).process_kprobe as Record<string, unknown>;
  assert.deepEqual(Object.keys(ev), [
    "process",
    "parent",
    "function_name",
    "return",
    "action",
    "policy_name",
  ]);
  assert.deepEqual(ev.return, { int_arg: -2, label: "err" });
  assert.equal(ev.action, "KPROBE_ACTION_SIGKILL");
});

Deno.test("policyEventLine() flags an enforcing action monitor mode did not take", () => {
  const plan = planSpec([
    "  kprobes:",
    "  - call: sys_unlinkat",
    "    args:",
    "    - index: 0",
    "      type: int",
  ]);
  const hook = plan.hooks[0]!;
  const skipped = line(hook, {
    ints: [1n],
    action: ENUMS.vigil_action_kind.VIGIL_ACT_OVERRIDE,
    flags: ENUMS.vigil_event_flags.VIGIL_EV_MONITOR,
  }).process_kprobe as Record<string, unknown>;
  assert.equal(skipped.action, "KPROBE_ACTION_OVERRIDE");
  assert.equal(skipped.policy_mode, "monitor");
  const taken = line(hook, { ints: [1n], action: ENUMS.vigil_action_kind.VIGIL_ACT_SIGKILL })
    .process_kprobe as Record<string, unknown>;
  assert.equal(taken.action, "KPROBE_ACTION_SIGKILL");
  assert.equal("policy_mode" in taken, false);
});

Deno.test("policyEventLine() exports fds as file_arg, buffers as bytes, 64-bit ints as strings", () => {
  const hook = onlyHook(planSpec([
    "  kprobes:",
    "  - call: sys_write",
    "    args:",
    "    - index: 0",
    "      type: fd",
    "    - index: 1",
    "      type: char_buf",
    "      sizeArgIndex: 3",
    "    - index: 2",
    "      type: size_t",
  ]));
  const ev = line(hook, {
    ints: [1n, 0x5000n, 300n],
    data: ["/dev/pts/0", "hello", ""],
  }).process_kprobe as { args: unknown[] };
  assert.deepEqual(ev.args, [
    { file_arg: { path: "/dev/pts/0" } },
    { truncated_bytes_arg: { bytes_arg: btoa("hello"), orig_size: "300" } },
    { size_arg: "300" },
  ]);
  const whole = line(hook, { ints: [1n, 0x5000n, 5n], data: ["", "hello", ""] })
    .process_kprobe as { args: unknown[] };
  assert.deepEqual(whole.args, [{ file_arg: {} }, { bytes_arg: btoa("hello") }, { size_arg: "5" }]);
});

Deno.test("policyEventLine() leaves out what protojson omits: no parent, no message, no tags", () => {
  const hook = onlyHook(planSpec([
    "  tracepoints:",
    "  - subsystem: sched",
    "    event: sched_process_exec",
    "    args:",
    "    - index: 4",
    "      label: file",
  ]));
  const text = policyEventLine(
    decoded({ ints: [0n], data: ['/bin/"q"\n'] }),
    hookEventInfo(hook),
    PROCESS,
    undefined,
    "node-1",
    TIME,
  );
  const ev = JSON.parse(text).process_tracepoint;
  assert.deepEqual(Object.keys(ev), [
    "process",
    "subsys",
    "event",
    "args",
    "policy_name",
    "action",
  ]);
  assert.deepEqual(ev.args, [{ string_arg: '/bin/"q"\n', label: "file" }]);
});
