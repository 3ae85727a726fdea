/** How hook args map onto record fields, arg kinds and exported JSON objects. */
import assert from "node:assert/strict";
import { errorMessages, onlyHook, planSpec } from "./plan_fixtures.ts";

function syscallHook(call: string, args: string[]) {
  return planSpec(["  kprobes:", `  - call: ${call}`, "    args:", ...args]);
}

Deno.test("planPolicy() maps syscall args to the fields after __syscall_nr", () => {
  const plan = syscallHook("sys_openat", [
    "    - index: 0",
    "      type: fd",
    "    - index: 1",
    "      type: string",
    "      label: path",
    "    - index: 2",
    "      type: uint32",
    "    - index: 3",
    "      type: uint16",
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = onlyHook(plan);
  assert.deepEqual(
    hook.args.map((a) => [a.field, a.kind, a.ctxOffset, a.size, a.type, a.json, a.label]),
    [
      ["dfd", "VIGIL_ARG_FD", 16, 4, "fd", "file_arg", undefined],
      ["filename", "VIGIL_ARG_STRING", 24, 8, "string", "string_arg", "path"],
      ["flags", "VIGIL_ARG_UINT", 32, 4, "uint32", "uint_arg", undefined],
      ["mode", "VIGIL_ARG_UINT", 40, 2, "uint16", "uint_arg", undefined],
    ],
  );
  assert.equal(hook.recSize, 48, "the fixed record, no __data_loc");
});

Deno.test("planPolicy() reads 64-bit types whole and exports them as long/size args", () => {
  const hook = onlyHook(syscallHook("sys_write", [
    "    - index: 0",
    "      type: int",
    "    - index: 1",
    "      type: char_buf",
    "      sizeArgIndex: 3",
    "    - index: 2",
    "      type: size_t",
  ]));
  assert.deepEqual(hook.args.map((a) => [a.kind, a.size, a.sizeArg, a.json]), [
    ["VIGIL_ARG_INT", 4, 0, "int_arg"],
    ["VIGIL_ARG_BUF", 8, 3, "bytes_arg"],
    ["VIGIL_ARG_UINT", 8, 0, "size_arg"],
  ]);
  const long = onlyHook(syscallHook("sys_write", ["    - index: 2", "      type: long"]));
  assert.deepEqual(long.args.map((a) => [a.kind, a.size, a.type, a.json]), [
    ["VIGIL_ARG_INT", 8, "int64", "long_arg"],
  ]);
});

Deno.test("planPolicy() takes a non-integer size arg's raw value, as Tetragon, with a warning", () => {
  // A public Tetragon policy (write.yaml) points sizeArgIndex at the buffer itself.
  const plan = syscallHook("sys_write", [
    "    - index: 1",
    "      type: char_buf",
    "      sizeArgIndex: 2",
    "    - index: 2",
    "      type: size_t",
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  assert.deepEqual(onlyHook(plan).args.map((a) => [a.kind, a.sizeArg]), [
    ["VIGIL_ARG_BUF", 1],
    ["VIGIL_ARG_UINT", 0],
  ]);
  const [warning] = plan.warnings;
  assert.equal(warning?.path, "spec.kprobes[0].args[0]");
  assert.match(
    warning?.message ?? "",
    /sizeArgIndex 2 refers to an arg of type char_buf, not an integer: its raw value is taken as the size/,
  );
});

Deno.test("planPolicy() reads sockaddr args as user pointers", () => {
  const hook = onlyHook(syscallHook("sys_connect", ["    - index: 1", "      type: sockaddr"]));
  assert.deepEqual(hook.args.map((a) => [a.field, a.kind, a.ctxOffset, a.json]), [
    ["uservaddr", "VIGIL_ARG_SOCKADDR", 24, "sockaddr_arg"],
  ]);
});

Deno.test("planPolicy() refuses arg types the syscall tracepoint cannot read, at the arg", () => {
  const plan = syscallHook("sys_openat", [
    "    - index: 0",
    "      type: file",
    "    - index: 1",
    "      type: linux_binprm",
  ]);
  assert.equal(plan.runnable, false);
  const [file, binprm] = plan.errors;
  assert.equal(file?.path, "spec.kprobes[0].args[0]");
  assert.equal(file?.line, 9);
  assert.match(
    file?.message ?? "",
    /^type file reads a kernel object \(struct file\), which only kprobe, fentry and LSM hooks receive; the syscall tracepoint only has the syscall's raw arguments/,
  );
  assert.equal(binprm?.path, "spec.kprobes[0].args[1]");
  assert.match(binprm?.message ?? "", /type linux_binprm reads a kernel object/);
});

Deno.test("planPolicy() checks char_buf sizes, pointers and indexes against the format", () => {
  const noSize = syscallHook("sys_write", ["    - index: 1", "      type: char_buf"]);
  assert.match(errorMessages(noSize)[0] ?? "", /char_buf needs sizeArgIndex/);
  const missing = syscallHook("sys_write", [
    "    - index: 1",
    "      type: char_buf",
    "      sizeArgIndex: 3",
  ]);
  assert.match(
    errorMessages(missing)[0] ?? "",
    /sizeArgIndex 3 refers to arg index 2, which is not in the hook's args/,
  );
  const notPointer = syscallHook("sys_write", ["    - index: 0", "      type: string"]);
  assert.match(
    errorMessages(notPointer)[0] ?? "",
    /type string needs a pointer, but field "fd" is unsigned int/,
  );
  const outOfRange = syscallHook("sys_setuid", ["    - index: 1", "      type: int"]);
  assert.match(
    errorMessages(outOfRange)[0] ?? "",
    /index 1 is out of range: setuid has 1 arguments/,
  );
});

Deno.test("planPolicy() refuses BTF-only arg attributes on tracepoints", () => {
  const plan = syscallHook("sys_openat", [
    "    - index: 1",
    "      type: string",
    "      resolve: f_path.dentry",
  ]);
  assert.match(
    errorMessages(plan)[0] ?? "",
    /resolve \(f_path.dentry\) walks kernel structures through BTF/,
  );
});

Deno.test("planPolicy() types auto tracepoint fields from the format", () => {
  const plan = planSpec([
    "  tracepoints:",
    "  - subsystem: sched",
    "    event: sched_process_exec",
    "    args:",
    "    - index: 4",
    "    - index: 5",
    "    - index: 3",
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = onlyHook(plan);
  assert.deepEqual(hook.args.map((a) => [a.field, a.kind, a.ctxOffset, a.size, a.type, a.json]), [
    ["filename", "VIGIL_ARG_DATA_LOC", 8, 4, "data_loc", "string_arg"],
    ["pid", "VIGIL_ARG_INT", 12, 4, "int", "int_arg"],
    ["common_pid", "VIGIL_ARG_INT", 4, 4, "int", "int_arg"],
  ]);
  assert.equal(hook.recSize, 20 + 256, "room for the __data_loc string after the fixed fields");
});

Deno.test("planPolicy() reads auto syscall-tracepoint fields by their C type", () => {
  const hook = onlyHook(planSpec([
    "  tracepoints:",
    "  - subsystem: syscalls",
    "    event: sys_enter_openat",
    "    args:",
    "    - index: 5",
    "    - index: 6",
    "    - index: 8",
  ]));
  assert.equal(hook.mechanism, "syscall_tracepoint");
  assert.deepEqual(hook.args.map((a) => [a.field, a.kind, a.size, a.type]), [
    ["dfd", "VIGIL_ARG_INT", 4, "int"],
    ["filename", "VIGIL_ARG_STRING", 8, "string"],
    ["mode", "VIGIL_ARG_UINT", 2, "uint16"],
  ]);
});

Deno.test("planPolicy() refuses array fields and kernel string pointers on tracepoints", () => {
  const plan = planSpec([
    "  tracepoints:",
    "  - subsystem: raw_syscalls",
    "    event: sys_enter",
    "    args:",
    "    - index: 5",
  ]);
  assert.match(errorMessages(plan).join("\n"), /array fields are not supported/);
});
