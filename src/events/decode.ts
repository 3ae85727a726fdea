/**
 * Stateless decoders from ring-buffer bytes to records, at the offsets of the generated ABI
 * module (never hand-written offsets). One decoder per op, chosen from an explicit table; each
 * record is decoded once, here (policy records included), and handed on as a typed record.
 *
 * @module
 */
import { ENUMS, STRUCTS } from "../bpf/abi.gen.ts";
import type {
  BenchRecord,
  CgroupRecord,
  CloneRecord,
  ExecRecord,
  ExitRecord,
  KernelRecord,
  PolicyRecord,
  SeedRecord,
} from "./records.ts";

const H = STRUCTS.vigil_header.fields;
const E = STRUCTS.vigil_exec.fields;
const C = STRUCTS.vigil_clone.fields;
const X = STRUCTS.vigil_exit.fields;
const B = STRUCTS.vigil_bench.fields;
const S = STRUCTS.vigil_process_seed.fields;
const OP = ENUMS.vigil_op;

const utf8 = new TextDecoder();

/** Thrown for a record this build cannot decode (unknown op, short record). */
export class DecodeError extends Error {
  override name = "DecodeError";
}

/** Reads a NUL-padded char array. */
function readFixedString(view: DataView, offset: number, size: number): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, size);
  const end = bytes.indexOf(0);
  return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

function u64(view: DataView, offset: number): bigint {
  return view.getBigUint64(offset, true);
}

/** Splits NUL-separated strings (a trailing NUL does not add an empty string). */
export function splitNul(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      out.push(utf8.decode(bytes.subarray(start, i)));
      start = i + 1;
    }
  }
  if (start < bytes.length) out.push(utf8.decode(bytes.subarray(start)));
  return out;
}

/** Rebuilds the cwd from components written leaf first (see bpf/lib/cwd.h). */
export function joinCwd(bytes: Uint8Array, rootCwd: boolean): string {
  const parts = splitNul(bytes);
  if (parts.length === 0) return rootCwd ? "/" : "";
  return "/" + parts.reverse().join("/");
}

function decodeExec(view: DataView, at: number, length: number): ExecRecord {
  const fnLen = view.getUint16(at + E.filename_len.offset, true);
  const argsLen = view.getUint16(at + E.args_len.offset, true);
  const cwdLen = view.getUint16(at + E.cwd_len.offset, true);
  const flags = view.getUint32(at + E.flags.offset, true);
  const tail = at + STRUCTS.vigil_exec.size;
  if (STRUCTS.vigil_exec.size + fnLen + argsLen + cwdLen > length) {
    throw new RangeError(`exec record of ${length} bytes is shorter than its tail`);
  }
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  return {
    kind: "exec",
    ktime: u64(view, at + H.ktime.offset),
    pid: view.getUint32(at + H.pid.offset, true),
    tid: view.getUint32(at + H.tid.offset, true),
    ktimeKey: u64(view, at + E.ktime_key.offset),
    parentPid: view.getUint32(at + E.parent_pid.offset, true),
    parentKtime: u64(view, at + E.parent_ktime.offset),
    cgroupId: u64(view, at + E.cgroup_id.offset),
    uid: view.getUint32(at + E.uid.offset, true),
    euid: view.getUint32(at + E.euid.offset, true),
    auid: view.getUint32(at + E.auid.offset, true),
    flags,
    filename: utf8.decode(bytes.subarray(tail, tail + fnLen)),
    argv: splitNul(bytes.subarray(tail + fnLen, tail + fnLen + argsLen)),
    cwd: joinCwd(
      bytes.subarray(tail + fnLen + argsLen, tail + fnLen + argsLen + cwdLen),
      (flags & ENUMS.vigil_exec_flags.VIGIL_F_ROOT_CWD) !== 0,
    ),
    comm: readFixedString(view, at + E.comm.offset, E.comm.size),
    nsPid: view.getUint32(at + E.ns_pid.offset, true),
  };
}

function decodeClone(view: DataView, at: number): CloneRecord {
  return {
    kind: "clone",
    ktime: u64(view, at + H.ktime.offset),
    pid: view.getUint32(at + H.pid.offset, true),
    tid: view.getUint32(at + H.tid.offset, true),
    ktimeKey: u64(view, at + C.ktime_key.offset),
    parentPid: view.getUint32(at + C.parent_pid.offset, true),
    parentKtime: u64(view, at + C.parent_ktime.offset),
    cgroupId: u64(view, at + C.cgroup_id.offset),
    uid: view.getUint32(at + C.uid.offset, true),
    auid: view.getUint32(at + C.auid.offset, true),
    flags: view.getUint32(at + C.flags.offset, true),
    comm: readFixedString(view, at + C.comm.offset, C.comm.size),
    nsPid: view.getUint32(at + C.ns_pid.offset, true),
  };
}

function decodeExit(view: DataView, at: number): ExitRecord {
  return {
    kind: "exit",
    ktime: u64(view, at + H.ktime.offset),
    pid: view.getUint32(at + H.pid.offset, true),
    tid: view.getUint32(at + H.tid.offset, true),
    ktimeKey: u64(view, at + X.ktime_key.offset),
    exitCode: view.getUint32(at + X.exit_code.offset, true),
  };
}

function decodeBench(view: DataView, at: number): BenchRecord {
  // Numbers, not bigint: this decoder measures the ring path, where BigInt costs show.
  return {
    kind: "bench",
    ktime: 0n,
    pid: view.getUint32(at + H.pid.offset, true),
    tid: view.getUint32(at + H.tid.offset, true),
    seq: view.getUint32(at + B.seq.offset, true) +
      view.getUint32(at + B.seq.offset + 4, true) * 2 ** 32,
    value: view.getUint32(at + B.value.offset, true),
  };
}

const G = STRUCTS.vigil_cgroup_event.fields;

function decodeCgroup(view: DataView, at: number, length: number): CgroupRecord {
  const pathLen = view.getUint32(at + G.path_len.offset, true);
  const tail = at + STRUCTS.vigil_cgroup_event.size;
  if (STRUCTS.vigil_cgroup_event.size + pathLen > length) {
    throw new RangeError(`cgroup record of ${length} bytes is shorter than its path`);
  }
  const op = view.getUint16(at + H.op.offset, true);
  return {
    kind: op === OP.VIGIL_OP_CGROUP_MKDIR ? "cgroup_mkdir" : "cgroup_rmdir",
    ktime: u64(view, at + H.ktime.offset),
    pid: 0,
    tid: 0,
    cgroupId: u64(view, at + G.cgroup_id.offset),
    path: utf8.decode(new Uint8Array(view.buffer, view.byteOffset + tail, pathLen)),
  };
}

const P = STRUCTS.vigil_policy_event.fields;
const MAX_ARGS = ENUMS.vigil_policy_limits.VIGIL_MAX_ARGS;
const EMPTY = new Uint8Array(0);

/**
 * A policy event: fields plus, in arg order, `data_len[i]` bytes of variable data per arg. The arg
 * data is not copied (an allocation per arg would cost more than the rest of the event): the
 * line is built before the ring slot is released, or {@link detachPolicyRecord} keeps it.
 */
function decodePolicy(view: DataView, at: number, length: number): PolicyRecord {
  const size = STRUCTS.vigil_policy_event.size;
  if (length < size) throw new DecodeError(`policy event of ${length} bytes (need ${size})`);
  const nargs = view.getUint8(at + P.nargs.offset);
  if (nargs > MAX_ARGS) throw new DecodeError(`policy event with ${nargs} args (max ${MAX_ARGS})`);
  const ints: bigint[] = [];
  const data: Uint8Array[] = [];
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let tail = at + size;
  const end = at + length;
  for (let i = 0; i < nargs; i++) {
    ints.push(view.getBigUint64(at + P.ints.offset + 8 * i, true));
    const n = view.getUint16(at + P.data_len.offset + 2 * i, true);
    if (tail + n > end) throw new DecodeError(`policy event tail overruns its ${length} bytes`);
    data.push(n === 0 ? EMPTY : bytes.subarray(tail, tail + n));
    tail += n;
  }
  return {
    kind: "policy",
    ktime: u64(view, at + H.ktime.offset),
    pid: view.getUint32(at + H.pid.offset, true),
    tid: view.getUint32(at + H.tid.offset, true),
    ktimeKey: u64(view, at + P.ktime_key.offset),
    cgroupId: u64(view, at + P.cgroup_id.offset),
    ret: view.getBigInt64(at + P.ret.offset, true),
    hookId: view.getUint32(at + P.hook_id.offset, true),
    policyId: view.getUint32(at + P.policy_id.offset, true),
    selector: view.getUint8(at + P.selector.offset),
    action: view.getUint8(at + P.action.offset),
    flags: view.getUint8(at + P.flags.offset),
    ints,
    data,
  };
}

/**
 * A copy of `rec` whose arg data no longer points into the ring buffer (one allocation), for
 * events kept past the ring slot (e.g. waiting for their container's metadata).
 */
export function detachPolicyRecord(rec: PolicyRecord): PolicyRecord {
  const total = rec.data.reduce((n, d) => n + d.length, 0);
  if (total === 0) return rec;
  const copy = new Uint8Array(total);
  let at = 0;
  const data = rec.data.map((d) => {
    copy.set(d, at);
    at += d.length;
    return copy.subarray(at - d.length, at);
  });
  return { ...rec, data };
}

type Decoder = (view: DataView, at: number, length: number) => KernelRecord;

/** op → decoder. */
const DECODERS: ReadonlyMap<number, Decoder> = new Map<number, Decoder>([
  [OP.VIGIL_OP_EXEC, decodeExec],
  [OP.VIGIL_OP_CLONE, decodeClone],
  [OP.VIGIL_OP_EXIT, decodeExit],
  [OP.VIGIL_OP_BENCH, decodeBench],
  [OP.VIGIL_OP_CGROUP_MKDIR, decodeCgroup],
  [OP.VIGIL_OP_CGROUP_RMDIR, decodeCgroup],
  [OP.VIGIL_OP_POLICY, decodePolicy],
]);

/** Decodes one ring-buffer record at `at` (its first byte) of `length` bytes. */
export function decodeRecord(view: DataView, at: number, length: number): KernelRecord {
  if (length < STRUCTS.vigil_header.size) {
    throw new DecodeError(`record of ${length} bytes has no header`);
  }
  const op = view.getUint16(at + H.op.offset, true);
  const decoder = DECODERS.get(op);
  if (!decoder) throw new DecodeError(`unknown record op ${op}`);
  return decoder(view, at, length);
}

/** Decodes the task iterator's output: a packed array of struct vigil_process_seed. */
export function decodeSeeds(bytes: Uint8Array): SeedRecord[] {
  const size = STRUCTS.vigil_process_seed.size;
  if (bytes.length % size !== 0) {
    throw new DecodeError(`task iterator wrote ${bytes.length} bytes, not a multiple of ${size}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seeds: SeedRecord[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    seeds.push({
      ktimeKey: u64(view, at + S.ktime_key.offset),
      parentKtime: u64(view, at + S.parent_ktime.offset),
      cgroupId: u64(view, at + S.cgroup_id.offset),
      pid: view.getUint32(at + S.pid.offset, true),
      parentPid: view.getUint32(at + S.parent_pid.offset, true),
      uid: view.getUint32(at + S.uid.offset, true),
      auid: view.getUint32(at + S.auid.offset, true),
      flags: view.getUint32(at + S.flags.offset, true),
      comm: readFixedString(view, at + S.comm.offset, S.comm.size),
    });
  }
  return seeds;
}
