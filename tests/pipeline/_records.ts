/**
 * Ring-buffer records as the kernel writes them (at the generated offsets), for tests that feed
 * the record pipeline without a kernel: each builder returns the record inside a larger buffer.
 */
import { ENUMS, STRUCTS } from "../../src/bpf/abi.gen.ts";

const enc = new TextEncoder();
const H = STRUCTS.vigil_header.fields;
const OP = ENUMS.vigil_op;
/** Bytes before and after each record, so decoders must honour `at` and `length`. */
const PAD = 8;

/** One record in a buffer: what `RingReader` hands its callback. */
export interface RawRecord {
  readonly view: DataView;
  readonly at: number;
  readonly length: number;
}

function raw(
  op: number,
  size: number,
  pid: number,
  ktime: bigint,
): RawRecord & { bytes: Uint8Array } {
  const bytes = new Uint8Array(PAD + size + PAD).fill(0xee);
  bytes.fill(0, PAD, PAD + size);
  const view = new DataView(bytes.buffer);
  view.setUint16(PAD + H.op.offset, op, true);
  view.setUint32(PAD + H.size.offset, size, true);
  view.setBigUint64(PAD + H.ktime.offset, ktime, true);
  view.setUint32(PAD + H.pid.offset, pid, true);
  view.setUint32(PAD + H.tid.offset, pid, true);
  return { view, at: PAD, length: size, bytes };
}

/** An exec of `argv[0]` by `pid` (instance key `ktime`) in cgroup `cgroupId`. */
export function execBytes(
  o: {
    pid: number;
    ktime: bigint;
    parentPid: number;
    parentKtime: bigint;
    cgroupId: bigint;
    argv: string[];
  },
): RawRecord {
  const E = STRUCTS.vigil_exec.fields;
  const fn = enc.encode(o.argv[0] ?? "");
  const args = enc.encode(o.argv.map((a) => a + "\0").join(""));
  const cwd = enc.encode("tmp\0");
  const size = STRUCTS.vigil_exec.size + fn.length + args.length + cwd.length;
  const r = raw(OP.VIGIL_OP_EXEC, size, o.pid, o.ktime);
  const { view, at, bytes } = r;
  view.setBigUint64(at + E.ktime_key.offset, o.ktime, true);
  view.setUint32(at + E.parent_pid.offset, o.parentPid, true);
  view.setBigUint64(at + E.parent_ktime.offset, o.parentKtime, true);
  view.setBigUint64(at + E.cgroup_id.offset, o.cgroupId, true);
  view.setUint32(at + E.auid.offset, 0xffffffff, true);
  view.setUint16(at + E.filename_len.offset, fn.length, true);
  view.setUint16(at + E.args_len.offset, args.length, true);
  view.setUint16(at + E.cwd_len.offset, cwd.length, true);
  bytes.set(enc.encode("sh"), at + E.comm.offset);
  const tail = at + STRUCTS.vigil_exec.size;
  bytes.set(fn, tail);
  bytes.set(args, tail + fn.length);
  bytes.set(cwd, tail + fn.length + args.length);
  return r;
}

/** The exit of instance (`pid`, `ktime`) with wait status `status`. */
export function exitBytes(
  o: { pid: number; ktime: bigint; at: bigint; status: number },
): RawRecord {
  const X = STRUCTS.vigil_exit.fields;
  const r = raw(OP.VIGIL_OP_EXIT, STRUCTS.vigil_exit.size, o.pid, o.at);
  r.view.setBigUint64(r.at + X.ktime_key.offset, o.ktime, true);
  r.view.setUint32(r.at + X.exit_code.offset, o.status, true);
  return r;
}

/** A cgroup created (`mkdir`) or removed at `path`. */
export function cgroupBytes(kind: "mkdir" | "rmdir", cgroupId: bigint, path: string): RawRecord {
  const G = STRUCTS.vigil_cgroup_event.fields;
  const p = enc.encode(path);
  const op = kind === "mkdir" ? OP.VIGIL_OP_CGROUP_MKDIR : OP.VIGIL_OP_CGROUP_RMDIR;
  const r = raw(op, STRUCTS.vigil_cgroup_event.size + p.length, 0, 1n);
  r.view.setBigUint64(r.at + G.cgroup_id.offset, cgroupId, true);
  r.view.setUint32(r.at + G.path_len.offset, p.length, true);
  r.bytes.set(p, r.at + STRUCTS.vigil_cgroup_event.size);
  return r;
}

/** A policy event of hook `hookId` about instance (`pid`, `ktime`), with string args. */
export function policyBytes(
  o: { hookId: number; pid: number; ktime: bigint; at: bigint; strings: string[] },
): RawRecord {
  const P = STRUCTS.vigil_policy_event.fields;
  const data = o.strings.map((x) => enc.encode(x));
  const size = STRUCTS.vigil_policy_event.size + data.reduce((n, d) => n + d.length, 0);
  const r = raw(OP.VIGIL_OP_POLICY, size, o.pid, o.at);
  const { view, at, bytes } = r;
  view.setBigUint64(at + P.ktime_key.offset, o.ktime, true);
  view.setUint32(at + P.hook_id.offset, o.hookId, true);
  view.setUint8(at + P.action.offset, ENUMS.vigil_action_kind.VIGIL_ACT_POST);
  view.setUint8(at + P.nargs.offset, data.length);
  let tail = at + STRUCTS.vigil_policy_event.size;
  data.forEach((d, i) => {
    view.setUint16(at + P.data_len.offset + 2 * i, d.length, true);
    bytes.set(d, tail);
    tail += d.length;
  });
  return r;
}

/** A benchmark record (a kind the agent decodes but does not handle). */
export function benchBytes(): RawRecord {
  return raw(OP.VIGIL_OP_BENCH, STRUCTS.vigil_bench.size, 1, 1n);
}

/** Bytes with an op no decoder knows. */
export function unknownBytes(): RawRecord {
  return raw(999, STRUCTS.vigil_header.size, 1, 1n);
}
