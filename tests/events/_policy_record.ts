/**
 * Synthetic policy records (struct vigil_policy_event + tail), laid out at the generated offsets
 * inside a larger buffer, for the decoder and line-builder tests.
 */
import { ENUMS, STRUCTS } from "../../src/bpf/abi.gen.ts";
import { decodeRecord } from "../../src/events/decode.ts";
import type { PolicyRecord } from "../../src/events/records.ts";

const P = STRUCTS.vigil_policy_event.fields;
const HDR = STRUCTS.vigil_header.fields;

export interface RecordSpec {
  hookId?: number;
  action?: number;
  ret?: bigint;
  flags?: number;
  ints: bigint[];
  data?: (Uint8Array | string)[];
}

/** A ring-buffer record at `pad` bytes into a larger buffer, laid out by the generated offsets. */
export function record(spec: RecordSpec, pad = 8): { view: DataView; at: number; length: number } {
  const enc = new TextEncoder();
  const data = (spec.data ?? []).map((d) => (typeof d === "string" ? enc.encode(d) : d));
  const tail = data.reduce((n, d) => n + d.length, 0);
  const length = STRUCTS.vigil_policy_event.size + tail;
  const bytes = new Uint8Array(pad + length + 8);
  const v = new DataView(bytes.buffer);
  const at = pad;
  v.setUint16(at + HDR.op.offset, ENUMS.vigil_op.VIGIL_OP_POLICY, true);
  v.setUint32(at + HDR.size.offset, length, true);
  v.setBigUint64(at + HDR.ktime.offset, 123456789n, true);
  v.setUint32(at + HDR.pid.offset, 42, true);
  v.setUint32(at + HDR.tid.offset, 43, true);
  v.setBigUint64(at + P.ktime_key.offset, 1000n, true);
  v.setBigUint64(at + P.cgroup_id.offset, 77n, true);
  v.setBigInt64(at + P.ret.offset, spec.ret ?? 0n, true);
  v.setUint32(at + P.hook_id.offset, spec.hookId ?? 5, true);
  v.setUint32(at + P.policy_id.offset, 2, true);
  v.setUint8(at + P.selector.offset, 1);
  v.setUint8(at + P.action.offset, spec.action ?? ENUMS.vigil_action_kind.VIGIL_ACT_POST);
  v.setUint8(at + P.nargs.offset, spec.ints.length);
  v.setUint8(at + P.flags.offset, spec.flags ?? 0);
  spec.ints.forEach((x, i) =>
    v.setBigUint64(at + P.ints.offset + 8 * i, BigInt.asUintN(64, x), true)
  );
  let off = at + STRUCTS.vigil_policy_event.size;
  data.forEach((d, i) => {
    v.setUint16(at + P.data_len.offset + 2 * i, d.length, true);
    bytes.set(d, off);
    off += d.length;
  });
  return { view: v, at, length };
}

export function decoded(spec: RecordSpec): PolicyRecord {
  const r = record(spec);
  const rec = decodeRecord(r.view, r.at, r.length);
  if (rec.kind !== "policy") throw new Error(`decoded a ${rec.kind} record`);
  return rec;
}
