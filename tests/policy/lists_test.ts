import assert from "node:assert/strict";
import { allSyscalls, resolveSyscall, syscallByNumber } from "../../src/policy/vocab/mod.ts";
import { X86_64_SYSCALLS } from "../../src/policy/vocab/mod.ts";
import { parse, parseValid, withSpec } from "./_helpers.ts";

Deno.test("resolveSyscall() accepts openat, sys_openat, __x64_sys_openat and x64/", () => {
  for (const name of ["openat", "sys_openat", "__x64_sys_openat", "x64/sys_openat"]) {
    assert.deepEqual(
      resolveSyscall(name).syscall,
      { name: "openat", nr: 257, entry: "openat" },
      name,
    );
  }
});

Deno.test("resolveSyscall() knows the entry points that differ from the syscall name", () => {
  assert.deepEqual(resolveSyscall("sys_stat").syscall, { name: "stat", nr: 4, entry: "newstat" });
  assert.deepEqual(resolveSyscall("__x64_sys_newstat").syscall?.nr, 4);
  assert.deepEqual(resolveSyscall("sys_umount").syscall, {
    name: "umount2",
    nr: 166,
    entry: "umount",
  });
  assert.deepEqual(resolveSyscall("sys_newuname").syscall?.name, "uname");
});

Deno.test("resolveSyscall() refuses i386 and other ABIs with a clear message", () => {
  assert.equal(
    resolveSyscall("i386/sys_dup").error,
    "'i386/sys_dup': 32-bit (i386) syscalls are not supported yet; only x86_64 syscalls can be listed",
  );
  assert.match(resolveSyscall("__ia32_sys_dup").error ?? "", /only x86_64 syscalls/);
  assert.match(resolveSyscall("arm64/sys_dup").error ?? "", /ABI 'arm64' is not supported/);
  assert.equal(resolveSyscall("sys_nothing").error, "'sys_nothing' is not an x86_64 syscall");
});

Deno.test("the generated syscall table matches well-known x86_64 numbers", () => {
  const table = new Map(X86_64_SYSCALLS);
  assert.equal(table.get("read"), 0);
  assert.equal(table.get("execve"), 59);
  assert.equal(table.get("unlinkat"), 263);
  assert.equal(table.get("openat2"), 437);
  assert.equal(syscallByNumber(62)?.name, "kill");
  assert.equal(allSyscalls().length, X86_64_SYSCALLS.length);
  assert.equal(new Set(X86_64_SYSCALLS.map(([, nr]) => nr)).size, X86_64_SYSCALLS.length);
});

Deno.test("parsePolicy() resolves a syscalls list to numbers, keeping the written names", () => {
  const policy = parseValid(withSpec(
    "  lists:",
    "  - name: deletions",
    "    type: syscalls",
    "    values: [sys_unlinkat, unlink, __x64_sys_rmdir]",
    "  kprobes:",
    '  - call: "list:deletions"',
    "    args:",
    "    - {index: 0, type: int}",
  ));
  const list = policy.spec.lists[0];
  assert.deepEqual(list?.syscalls?.map((s) => s.nr), [263, 87, 84]);
  const hook = policy.spec.kprobes[0];
  assert.equal(hook?.callList, "deletions");
  assert.equal(hook?.syscall, true);
  assert.deepEqual(hook?.targets.map((t) => [t.written, t.syscall?.name]), [
    ["sys_unlinkat", "unlinkat"],
    ["unlink", "unlink"],
    ["__x64_sys_rmdir", "rmdir"],
  ]);
});

Deno.test("parsePolicy() forces syscall: true for a syscall list, with a warning if set false", () => {
  const result = parse(withSpec(
    "  lists:",
    "  - {name: l, type: syscalls, values: [sys_dup]}",
    "  kprobes:",
    '  - call: "list:l"',
    "    syscall: false",
  ));
  assert.deepEqual(result.errors, []);
  assert.equal(result.policy?.spec.kprobes[0]?.syscall, true);
  assert.deepEqual(result.warnings.map((w) => w.path), ["spec.kprobes[0].syscall"]);
});

Deno.test("parsePolicy() expands a generated_syscalls list to the whole table", () => {
  const policy = parseValid(withSpec(
    "  lists:",
    "  - {name: all, type: generated_syscalls}",
    "  tracepoints:",
    "  - subsystem: raw_syscalls",
    "    event: sys_exit",
    "    args: [{index: 4, type: syscall64}]",
    "    selectors:",
    "    - matchArgs: [{index: 4, operator: NotInMap, values: ['list:all']}]",
  ));
  assert.equal(policy.spec.lists[0]?.syscalls?.length, X86_64_SYSCALLS.length);
  const match = policy.spec.tracepoints[0]?.selectors[0]?.matchArgs[0]?.match;
  assert.ok(match?.kind === "inMap");
  assert.equal(match.lists[0]?.ids.length, X86_64_SYSCALLS.length);
});

Deno.test("parsePolicy() keeps a generated_ftrace list's pattern and leaves targets to load time", () => {
  const policy = parseValid(withSpec(
    "  lists:",
    "  - {name: vfs, type: generated_ftrace, pattern: '^vfs_[a-z]+$'}",
    "  kprobes:",
    '  - call: "list:vfs"',
    "    syscall: false",
  ));
  assert.equal(policy.spec.lists[0]?.pattern, "^vfs_[a-z]+$");
  assert.deepEqual(policy.spec.kprobes[0]?.targets, []);
  assert.equal(policy.spec.kprobes[0]?.syscall, false);
});

Deno.test("parsePolicy() resolves enforcer calls, lists included", () => {
  const policy = parseValid(withSpec(
    "  lists:",
    "  - {name: l, type: syscalls, values: [sys_dup2]}",
    "  enforcers:",
    '  - calls: [sys_dup, "list:l"]',
    "  kprobes:",
    "  - call: sys_dup",
    "    selectors:",
    "    - matchActions: [{action: NotifyEnforcer, argError: -1}]",
  ));
  assert.deepEqual(policy.spec.enforcers[0]?.syscalls.map((s) => s.name), ["dup", "dup2"]);
  const action = policy.spec.kprobes[0]?.selectors[0]?.matchActions[0];
  assert.deepEqual(
    action && { action: action.action, argError: "argError" in action ? action.argError : 0 },
    {
      action: "NotifyEnforcer",
      argError: -1,
    },
  );
});

Deno.test("parsePolicy() refuses duplicate list names", () => {
  const result = parse(withSpec(
    "  lists:",
    "  - {name: l, type: syscalls, values: [sys_dup]}",
    "  - {name: l, type: syscalls, values: [sys_dup2]}",
  ));
  assert.deepEqual(result.errors.map((e) => [e.line, e.path, e.message]), [
    [8, "spec.lists[1]", 'duplicate list name "l": list names must be unique'],
  ]);
});
