import assert from "node:assert/strict";
import {
  parseTracepointFormat,
  syscallArgFields,
  tracefsFormatLookup,
  TracepointFormatError,
} from "../../src/policy/plan/mod.ts";
import { TRACEFS_FIXTURES } from "./plan_fixtures.ts";

const lookup = tracefsFormatLookup({ root: TRACEFS_FIXTURES });

function format(subsystem: string, event: string) {
  const r = lookup(subsystem, event);
  assert.equal(r.error, undefined);
  assert.ok(r.format);
  return r.format;
}

Deno.test("parseTracepointFormat() reads sys_enter_unlinkat: common fields, __syscall_nr, args", () => {
  const f = format("syscalls", "sys_enter_unlinkat");
  assert.equal(f.id, 884);
  assert.deepEqual(
    f.fields.map((x) => [x.name, x.type, x.offset, x.size, x.signed]),
    [
      ["common_type", "unsigned short", 0, 2, false],
      ["common_flags", "unsigned char", 2, 1, false],
      ["common_preempt_count", "unsigned char", 3, 1, false],
      ["common_pid", "int", 4, 4, true],
      ["__syscall_nr", "int", 8, 4, true],
      ["dfd", "int", 16, 8, false],
      ["pathname", "const char *", 24, 8, false],
      ["flag", "int", 32, 8, false],
    ],
  );
  assert.equal(f.fields[6]?.pointer, true);
  assert.equal(f.fields[5]?.pointer, false);
  assert.deepEqual(syscallArgFields(f).map((x) => x.name), ["dfd", "pathname", "flag"]);
});

Deno.test("parseTracepointFormat() reads __data_loc strings and array fields", () => {
  const exec = format("sched", "sched_process_exec");
  const filename = exec.fields[4];
  assert.equal(filename?.name, "filename");
  assert.equal(filename?.type, "__data_loc char[]");
  assert.equal(filename?.dataLoc, true);
  assert.equal(filename?.pointer, false);
  assert.deepEqual(exec.fields.slice(5).map((x) => [x.name, x.type, x.offset]), [
    ["pid", "pid_t", 12],
    ["old_pid", "pid_t", 16],
  ]);
  const raw = format("raw_syscalls", "sys_enter");
  assert.deepEqual(raw.fields.slice(4).map((x) => [x.name, x.type, x.size, x.arrayLength]), [
    ["id", "long", 8, undefined],
    ["args", "unsigned long", 48, 6],
  ]);
  assert.deepEqual(syscallArgFields(raw), [], "raw_syscalls has no __syscall_nr");
});

Deno.test("parseTracepointFormat() reads pointers to pointers and struct pointers", () => {
  const execve = format("syscalls", "sys_enter_execve");
  assert.deepEqual(syscallArgFields(execve).map((x) => [x.name, x.type, x.pointer]), [
    ["filename", "const char *", true],
    ["argv", "const char *const *", true],
    ["envp", "const char *const *", true],
  ]);
  const connect = format("syscalls", "sys_enter_connect");
  assert.equal(syscallArgFields(connect)[1]?.type, "struct sockaddr *");
  const exit = format("syscalls", "sys_exit_unlinkat");
  assert.deepEqual(exit.fields.at(-1), {
    name: "ret",
    type: "long",
    offset: 16,
    size: 8,
    signed: true,
    dataLoc: false,
    pointer: false,
  });
});

Deno.test("parseTracepointFormat() rejects malformed field lines and files without fields", () => {
  assert.throws(
    () => parseTracepointFormat("format:\n\tfield:int x;\toffset:zero;\n", "a", "b"),
    TracepointFormatError,
  );
  assert.throws(() => parseTracepointFormat("name: x\nID: 1\n", "a", "b"), /no field lines/);
});

Deno.test("tracefsFormatLookup() explains a missing tracepoint and memoises answers", () => {
  let reads = 0;
  const counting = tracefsFormatLookup({
    root: "/nowhere",
    readTextFile: (path) => {
      reads++;
      throw new Deno.errors.NotFound(path);
    },
  });
  const r = counting("syscalls", "sys_enter_nosuch");
  assert.match(
    r.error ?? "",
    /this kernel has no tracepoint syscalls\/sys_enter_nosuch \(\/nowhere\/events\/syscalls\/sys_enter_nosuch\/format does not exist\)/,
  );
  counting("syscalls", "sys_enter_nosuch");
  assert.equal(reads, 1);
  assert.match(counting("../etc", "passwd").error ?? "", /is not a tracepoint name/);
  assert.equal(reads, 1, "names with slashes are never read");
});

Deno.test("tracefsFormatLookup() reads through an injected reader", () => {
  const text = Deno.readTextFileSync(`${TRACEFS_FIXTURES}events/syscalls/sys_enter_setuid/format`);
  const paths: string[] = [];
  const injected = tracefsFormatLookup({
    root: "/sys/kernel/tracing",
    readTextFile: (p) => {
      paths.push(p);
      return text;
    },
  });
  const f = injected("syscalls", "sys_enter_setuid").format;
  assert.deepEqual(paths, ["/sys/kernel/tracing/events/syscalls/sys_enter_setuid/format"]);
  assert.deepEqual(f && syscallArgFields(f).map((x) => [x.name, x.type]), [["uid", "uid_t"]]);
});
