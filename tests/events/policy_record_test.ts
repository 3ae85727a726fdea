/** Policy records: decoded once, in the decoder table, at the generated offsets. */
import assert from "node:assert/strict";
import { ENUMS } from "../../src/bpf/abi.gen.ts";
import { DecodeError, decodeRecord, detachPolicyRecord } from "../../src/events/decode.ts";
import type { PolicyRecord } from "../../src/events/records.ts";
import { decoded, record } from "./_policy_record.ts";

Deno.test("decodeRecord() reads every field at the generated offsets, and the tail in order", () => {
  const rec = decoded({
    hookId: 9,
    ret: -2n,
    flags: ENUMS.vigil_event_flags.VIGIL_EV_TRUNCATED,
    ints: [-100n, 0x7fff0000n, 0n],
    data: ["", "/tmp/x\0", ""],
  });
  assert.deepEqual({ ...rec, data: rec.data.map((d) => [...d]) }, {
    kind: "policy",
    ktime: 123456789n,
    pid: 42,
    tid: 43,
    ktimeKey: 1000n,
    cgroupId: 77n,
    ret: -2n,
    hookId: 9,
    policyId: 2,
    selector: 1,
    action: ENUMS.vigil_action_kind.VIGIL_ACT_POST,
    flags: ENUMS.vigil_event_flags.VIGIL_EV_TRUNCATED,
    ints: [BigInt.asUintN(64, -100n), 0x7fff0000n, 0n],
    data: [[], [...new TextEncoder().encode("/tmp/x\0")], []],
  });
});

Deno.test("detachPolicyRecord() copies the arg data out of the ring buffer", () => {
  const r = record({ ints: [1n, 2n], data: ["abc", "de"] });
  const rec = decodeRecord(r.view, r.at, r.length) as PolicyRecord;
  const kept = detachPolicyRecord(rec);
  new Uint8Array(r.view.buffer).fill(0x7a);
  assert.equal(new TextDecoder().decode(rec.data[0]), "zzz", "decoded data are views");
  assert.deepEqual(kept.data.map((d) => new TextDecoder().decode(d)), ["abc", "de"]);
  assert.deepEqual(kept.ints, [1n, 2n]);
});

Deno.test("decodeRecord() refuses short records and tails that overrun them", () => {
  const r = record({ ints: [1n], data: ["abc"] });
  assert.throws(() => decodeRecord(r.view, r.at, 40), DecodeError);
  assert.throws(() => decodeRecord(r.view, r.at, r.length - 1), /tail overruns/);
});
