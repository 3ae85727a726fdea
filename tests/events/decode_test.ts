/**
 * Decoders against records encoded at the generated offsets (what the kernel writes).
 */
import assert from "node:assert/strict";
import { ENUMS, STRUCTS } from "../../src/bpf/abi.gen.ts";
import {
  DecodeError,
  decodeRecord,
  decodeSeeds,
  joinCwd,
  splitNul,
} from "../../src/events/decode.ts";

const enc = new TextEncoder();
const H = STRUCTS.vigil_header.fields;

function header(view: DataView, op: number, size: number, pid: number, ktime: bigint): void {
  view.setUint16(H.op.offset, op, true);
  view.setUint32(H.size.offset, size, true);
  view.setBigUint64(H.ktime.offset, ktime, true);
  view.setUint32(H.pid.offset, pid, true);
  view.setUint32(H.tid.offset, pid, true);
}

function execRecord(
  opts: { filename: string; argv: string[]; cwdLeafFirst: string[]; flags?: number },
) {
  const E = STRUCTS.vigil_exec.fields;
  const fn = enc.encode(opts.filename);
  const args = enc.encode(opts.argv.map((a) => a + "\0").join(""));
  const cwd = enc.encode(opts.cwdLeafFirst.map((c) => c + "\0").join(""));
  const size = STRUCTS.vigil_exec.size + fn.length + args.length + cwd.length;
  const bytes = new Uint8Array(size + 16); // trailing garbage must be ignored
  bytes.fill(0xee, size);
  const view = new DataView(bytes.buffer);
  header(view, ENUMS.vigil_op.VIGIL_OP_EXEC, size, 4242, 123456789012345n);
  view.setBigUint64(E.ktime_key.offset, 123456789012345n, true);
  view.setBigUint64(E.parent_ktime.offset, 2n ** 63n + 5n, true);
  view.setBigUint64(E.cgroup_id.offset, 2n ** 40n + 7n, true);
  view.setUint32(E.parent_pid.offset, 1, true);
  view.setUint32(E.uid.offset, 1000, true);
  view.setUint32(E.euid.offset, 0, true);
  view.setUint32(E.auid.offset, 0xffffffff, true);
  view.setUint32(E.flags.offset, opts.flags ?? 0, true);
  view.setUint16(E.filename_len.offset, fn.length, true);
  view.setUint16(E.args_len.offset, args.length, true);
  view.setUint16(E.cwd_len.offset, cwd.length, true);
  bytes.set(enc.encode("true"), E.comm.offset);
  bytes.set(fn, STRUCTS.vigil_exec.size);
  bytes.set(args, STRUCTS.vigil_exec.size + fn.length);
  bytes.set(cwd, STRUCTS.vigil_exec.size + fn.length + args.length);
  return { view, size };
}

Deno.test("decodeRecord() decodes an exec record with its tail and 64-bit fields as bigint", () => {
  const { view, size } = execRecord({
    filename: "/bin/true",
    argv: ["/bin/true", "a b", ""],
    cwdLeafFirst: ["sub", "tmp"],
  });
  const r = decodeRecord(view, 0, size);
  assert.equal(r.kind, "exec");
  if (r.kind !== "exec") return;
  assert.equal(r.pid, 4242);
  assert.equal(r.ktimeKey, 123456789012345n);
  assert.equal(r.parentKtime, 2n ** 63n + 5n);
  assert.equal(r.cgroupId, 2n ** 40n + 7n);
  assert.equal(r.uid, 1000);
  assert.equal(r.auid, 0xffffffff);
  assert.equal(r.filename, "/bin/true");
  assert.deepEqual(r.argv, ["/bin/true", "a b", ""]);
  assert.equal(r.cwd, "/tmp/sub");
  assert.equal(r.comm, "true");
});

Deno.test("decodeRecord() gives / for a root cwd and rejects a record shorter than its tail", () => {
  const root = execRecord({
    filename: "x",
    argv: [],
    cwdLeafFirst: [],
    flags: ENUMS.vigil_exec_flags.VIGIL_F_ROOT_CWD,
  });
  const r = decodeRecord(root.view, 0, root.size);
  assert.equal(r.kind === "exec" && r.cwd, "/");
  const short = execRecord({ filename: "/bin/true", argv: ["a"], cwdLeafFirst: ["tmp"] });
  assert.throws(() => decodeRecord(short.view, 0, short.size - 4), RangeError);
});

Deno.test("decodeRecord() decodes exit and clone records and rejects unknown ops", () => {
  const X = STRUCTS.vigil_exit.fields;
  const bytes = new Uint8Array(STRUCTS.vigil_exit.size);
  const view = new DataView(bytes.buffer);
  header(view, ENUMS.vigil_op.VIGIL_OP_EXIT, bytes.length, 77, 99n);
  view.setBigUint64(X.ktime_key.offset, 55n, true);
  view.setUint32(X.exit_code.offset, 3 << 8, true);
  const exit = decodeRecord(view, 0, bytes.length);
  assert.deepEqual(exit, {
    kind: "exit",
    ktime: 99n,
    pid: 77,
    tid: 77,
    ktimeKey: 55n,
    exitCode: 768,
  });

  const C = STRUCTS.vigil_clone.fields;
  const cb = new Uint8Array(STRUCTS.vigil_clone.size);
  const cv = new DataView(cb.buffer);
  header(cv, ENUMS.vigil_op.VIGIL_OP_CLONE, cb.length, 78, 100n);
  cv.setUint32(C.parent_pid.offset, 77, true);
  cv.setBigUint64(C.parent_ktime.offset, 55n, true);
  cb.set(enc.encode("sh"), C.comm.offset);
  const clone = decodeRecord(cv, 0, cb.length);
  assert.equal(clone.kind, "clone");
  assert.equal(clone.kind === "clone" && clone.parentPid, 77);
  assert.equal(clone.kind === "clone" && clone.comm, "sh");

  view.setUint16(H.op.offset, 999, true);
  assert.throws(() => decodeRecord(view, 0, bytes.length), DecodeError);
  assert.throws(() => decodeRecord(view, 0, 4), DecodeError);
});

Deno.test("decodeSeeds() decodes the task iterator's packed records and rejects partial ones", () => {
  const S = STRUCTS.vigil_process_seed.fields;
  const size = STRUCTS.vigil_process_seed.size;
  const bytes = new Uint8Array(size * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 2; i++) {
    view.setUint32(i * size + S.pid.offset, 10 + i, true);
    view.setBigUint64(i * size + S.ktime_key.offset, BigInt(1000 + i), true);
  }
  const seeds = decodeSeeds(bytes);
  assert.deepEqual(seeds.map((s) => [s.pid, s.ktimeKey]), [[10, 1000n], [11, 1001n]]);
  assert.throws(() => decodeSeeds(bytes.subarray(0, size + 3)), DecodeError);
});

Deno.test("splitNul() and joinCwd() rebuild strings written by the BPF side", () => {
  assert.deepEqual(splitNul(enc.encode("a\0b\0")), ["a", "b"]);
  assert.deepEqual(splitNul(enc.encode("a\0b")), ["a", "b"]);
  assert.equal(joinCwd(enc.encode("c\0b\0a\0"), false), "/a/b/c");
  assert.equal(joinCwd(new Uint8Array(0), false), "");
});
