/**
 * The file family of args on kernel-function hooks (bpf/lib/args_file.h): how each type is read
 * (kind, offset, exported object), FileType filters, returnCopy/maxData, and the export shapes
 * file_arg / path_arg / linux_binprm_arg / bytes_arg as Tetragon prints them.
 */
import assert from "node:assert/strict";
import { ENUMS } from "../../src/bpf/abi.gen.ts";
import { hookEventInfo, policyEventLine } from "../../src/policy/event_json.ts";
import { permissionString } from "../../src/policy/event_json_file.ts";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import type { PlannedHook } from "../../src/policy/plan/mod.ts";
import { decoded, type RecordSpec } from "../events/_policy_record.ts";
import { errorMessages, EVERYTHING_KERNEL, facts, onlyHook, policyOf } from "./plan_fixtures.ts";

const FLAGS = ENUMS.vigil_path_flags;

function plan(body: string) {
  return planPolicy(
    policyOf(`apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: file-args
spec:
${body}`),
    facts({ features: EVERYTHING_KERNEL }),
  );
}

function event(hook: PlannedHook, spec: RecordSpec): Record<string, unknown> {
  const text = policyEventLine(decoded(spec), hookEventInfo(hook), undefined, undefined, "n", "t");
  return JSON.parse(text);
}

const FILE_PERMISSION = `  kprobes:
  - call: security_file_permission
    syscall: false
    args:
    - index: 0
      type: file
      label: f
    - index: 1
      type: int
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["/etc/"]
      - index: 0
        operator: FileType
        values: ["reg"]
`;

Deno.test("file args on a kernel function: path kinds, Prefix and FileType filters", () => {
  const p = plan(FILE_PERMISSION);
  assert.equal(p.runnable, true, String(p.reason));
  const hook = onlyHook(p);
  assert.deepEqual(hook.args.map((a) => [a.kind, a.ctxOffset, a.json, a.label]), [
    ["VIGIL_ARG_FILE", 0, "file_arg", "f"],
    ["VIGIL_ARG_INT", 8, "int_arg", undefined],
  ]);
  const [prefix, type] = hook.selectors[0]!.argFilters;
  assert.equal(prefix?.op, "VIGIL_MATCH_PREFIX");
  assert.deepEqual(prefix?.set, { kind: "lpm", reversed: false, values: ["/etc/"] });
  assert.equal(type?.op, "VIGIL_MATCH_FILE_TYPE");
  assert.deepEqual(type?.values, [0o100000n]);
});

Deno.test("each file-family type maps to its reader and Tetragon object", () => {
  const hook = onlyHook(plan(`  kprobes:
  - call: some_function
    syscall: false
    args:
    - index: 0
      type: path
    - index: 1
      type: dentry
    - index: 2
      type: linux_binprm
    - index: 3
      type: kiocb
    - index: 4
      type: filename
`));
  assert.deepEqual(hook.args.map((a) => [a.kind, a.json]), [
    ["VIGIL_ARG_PATH", "path_arg"],
    ["VIGIL_ARG_DENTRY", "path_arg"],
    ["VIGIL_ARG_LINUX_BINPRM", "linux_binprm_arg"],
    ["VIGIL_ARG_KIOCB", "file_arg"],
    ["VIGIL_ARG_FILENAME", "string_arg"],
  ]);
  const strings = onlyHook(plan(`  kprobes:
  - call: vfs_write
    syscall: false
    args:
    - index: 1
      type: char_buf
      sizeArgIndex: 3
    - index: 2
      type: size_t
    - index: 0
      type: string
`));
  assert.deepEqual(strings.args.map((a) => [a.kind, a.sizeArg]), [
    ["VIGIL_ARG_ANY_BUF", 2],
    ["VIGIL_ARG_UINT", 0],
    ["VIGIL_ARG_ANY_STRING", 0],
  ]);
});

Deno.test("char_iovec reads the iovecs counted by sizeArgIndex; returnCopy needs the return", () => {
  const iov = onlyHook(plan(`  kprobes:
  - call: sys_writev
    args:
    - index: 1
      type: char_iovec
      sizeArgIndex: 3
    - index: 2
      type: int
`));
  assert.deepEqual(iov.args.map((a) => [a.kind, a.sizeArg]), [
    ["VIGIL_ARG_IOVEC", 2],
    ["VIGIL_ARG_INT", 0],
  ]);
  const atEntry = plan(`  kprobes:
  - call: sys_read
    args:
    - index: 1
      type: char_buf
      returnCopy: true
`);
  assert.equal(atEntry.runnable, false);
  assert.match(
    errorMessages(atEntry)[0] ?? "",
    /returnCopy reads char_buf when the function returns/,
  );
  const atReturn = onlyHook(plan(`  kprobes:
  - call: sys_read
    return: true
    returnArg:
      index: 0
      type: size_t
    args:
    - index: 1
      type: char_buf
      returnCopy: true
`));
  assert.equal(atReturn.runnable, true, JSON.stringify(atReturn.errors));
  assert.equal(atReturn.mechanism, "fentry");
  assert.deepEqual(atReturn.args.map((a) => [a.kind, a.sizeArg]), [
    ["VIGIL_ARG_BUF", ENUMS.vigil_buf_limits.VIGIL_SIZE_FROM_RET],
    ["VIGIL_ARG_UINT", 0],
  ]);
  const maxData = onlyHook(plan(`  kprobes:
  - call: sys_write
    args:
    - index: 1
      type: char_buf
      sizeArgIndex: 3
      maxData: true
    - index: 2
      type: size_t
`));
  assert.equal(maxData.runnable, true, JSON.stringify(maxData.errors));
  assert.match(
    maxData.warnings.map((w) => w.message).join("\n"),
    /maxData: vigil captures at most 255 bytes/,
  );
});

Deno.test("NotFileType with several types: inline S_IF* values", () => {
  const p = plan(`  kprobes:
  - call: security_file_permission
    syscall: false
    args:
    - index: 0
      type: file
    - index: 1
      type: int
    selectors:
    - matchArgs:
      - index: 1
        operator: Equal
        values: ["4"]
      - index: 0
        operator: NotFileType
        values: ["dir", "lnk"]
`);
  assert.equal(p.runnable, true, String(p.reason));
  const filter = onlyHook(p).selectors[0]!.argFilters[1];
  assert.equal(filter?.op, "VIGIL_MATCH_NOT_FILE_TYPE");
  assert.deepEqual(filter?.values, [0o040000n, 0o120000n]);
});

Deno.test("file_arg / path_arg / linux_binprm_arg export path, flags and permission", () => {
  const hook = onlyHook(plan(`  kprobes:
  - call: some_function
    syscall: false
    args:
    - index: 0
      type: file
      label: f
    - index: 1
      type: path
    - index: 2
      type: linux_binprm
`));
  const cut = BigInt(FLAGS.VIGIL_PATH_F_CUT) << 32n;
  const ev = event(hook, {
    ints: [0o100644n, cut | 0o040755n, 0o104755n],
    data: ["/etc/passwd", "/deep/leaf", "/usr/bin/su"],
  });
  assert.deepEqual((ev.process_kprobe as { args: unknown }).args, [
    { file_arg: { path: "/etc/passwd", permission: "-rw-r--r--" }, label: "f" },
    {
      path_arg: {
        path: "/deep/leaf",
        flags: "unresolvedPathComponents",
        permission: "drwxr-xr-x",
      },
    },
    { linux_binprm_arg: { path: "/usr/bin/su", permission: "-rwsr-xr-x" } },
  ]);
  const failed = event(hook, {
    ints: [BigInt(FLAGS.VIGIL_PATH_F_ERROR) << 32n, 0n, 0n],
    data: ["", "/", "/x"],
  });
  const args = (failed.process_kprobe as { args: Record<string, unknown>[] }).args;
  assert.deepEqual(args[0], { file_arg: {}, label: "f" });
  assert.deepEqual(args[1], { path_arg: { path: "/" } });
});

Deno.test("a char_buf copied at return reports its orig_size from the return value", () => {
  const hook = onlyHook(plan(`  kprobes:
  - call: sys_read
    return: true
    returnArg:
      index: 0
      type: size_t
    args:
    - index: 1
      type: char_buf
      returnCopy: true
`));
  const ev = event(hook, { ints: [0x7000n, 0n], ret: 300n, data: ["abc"] });
  assert.deepEqual((ev.process_kprobe as { args: unknown }).args, [
    { truncated_bytes_arg: { bytes_arg: "YWJj", orig_size: "300" } },
  ]);
});

Deno.test("permissionString() prints modes as ls -l does", () => {
  assert.equal(permissionString(0o100644), "-rw-r--r--");
  assert.equal(permissionString(0o041777), "drwxrwxrwt");
  assert.equal(permissionString(0o120777), "lrwxrwxrwx");
  assert.equal(permissionString(0o102644), "-rw-r-Sr--");
});

Deno.test("iov_iter exports the bytes of its segment, with the iterator's count as orig_size", () => {
  const hook = onlyHook(plan(`  kprobes:
  - call: tty_write
    syscall: false
    args:
    - index: 0
      type: kiocb
    - index: 1
      type: iov_iter
      maxData: true
`));
  assert.deepEqual(hook.args.map((a) => [a.kind, a.json]), [
    ["VIGIL_ARG_KIOCB", "file_arg"],
    ["VIGIL_ARG_IOV_ITER", "bytes_arg"],
  ]);
  const ev = event(hook, { ints: [0o020620n, 5n], data: ["/dev/pts/0", "hello"] });
  assert.deepEqual((ev.process_kprobe as { args: unknown }).args, [
    { file_arg: { path: "/dev/pts/0", permission: "crw--w----" } },
    { bytes_arg: "aGVsbG8=" },
  ]);
  const long = event(hook, { ints: [0o020620n, 4000n], data: ["/dev/pts/0", "hello"] });
  assert.deepEqual((long.process_kprobe as { args: unknown[] }).args[1], {
    truncated_bytes_arg: { bytes_arg: "aGVsbG8=", orig_size: "4000" },
  });
});
