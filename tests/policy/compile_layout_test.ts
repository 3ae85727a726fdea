/**
 * compileHook() byte layout: every hook is decoded back through the generated offsets of
 * src/bpf/abi.gen.ts (never hand-written ones) and compared with its plan.
 */
import assert from "node:assert/strict";
import { ENUMS, STRUCTS } from "../../src/bpf/abi.gen.ts";
import {
  CompileError,
  compileHook,
  intSetKey,
  lpmSetKey,
  setEntriesOf,
  strSetKey,
} from "../../src/policy/compile.ts";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import type { PlannedHook, PolicyPlan } from "../../src/policy/plan/mod.ts";
import { facts, HOST_NS, onlyHook, planSpec, policyFile } from "./plan_fixtures.ts";

const H = STRUCTS.vigil_hook;
const A = STRUCTS.vigil_hook_arg;
const S = STRUCTS.vigil_selector;
const F = STRUCTS.vigil_arg_filter;
const ACT = STRUCTS.vigil_action;
const NS = STRUCTS.vigil_ns_filter;
const CAP = STRUCTS.vigil_cap_filter;
const PIDS = STRUCTS.vigil_pid_filter;

/** Reverse lookup of a generated enum: value → name. */
function nameOf<T extends Record<string, number>>(e: T, value: number): keyof T {
  const hit = Object.entries(e).find(([, v]) => v === value);
  assert.ok(hit, `value ${value} is not in the enum`);
  return hit[0];
}

function u64s(view: DataView, at: number, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => view.getBigUint64(at + 8 * i, true));
}

/** Decodes one struct vigil_hook into plan-shaped data. */
function decodeHook(bytes: Uint8Array) {
  assert.equal(bytes.length, H.size);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nArgs = v.getUint8(H.fields.n_args.offset);
  const nSel = v.getUint8(H.fields.n_selectors.offset);
  const args = Array.from({ length: nArgs }, (_, i) => {
    const at = H.fields.args.offset + A.size * i;
    return {
      ctxOffset: v.getUint16(at + A.fields.ctx_offset.offset, true),
      kind: nameOf(ENUMS.vigil_arg_kind, v.getUint8(at + A.fields.kind.offset)),
      size: v.getUint8(at + A.fields.size.offset),
      sizeArg: v.getUint8(at + A.fields.size_arg.offset),
    };
  });
  const selectors = Array.from({ length: nSel }, (_, i) => {
    const at = H.fields.selectors.offset + S.size * i;
    const u8 = (f: { offset: number }) => v.getUint8(at + f.offset);
    const filters = Array.from({ length: u8(S.fields.n_arg_filters) }, (_, j) => {
      const fa = at + S.fields.args.offset + F.size * j;
      return {
        arg: v.getUint8(fa + F.fields.arg.offset),
        op: nameOf(ENUMS.vigil_match_op, v.getUint8(fa + F.fields.op.offset)),
        nvalues: v.getUint8(fa + F.fields.nvalues.offset),
        setId: v.getUint32(fa + F.fields.set_id.offset, true),
        values: u64s(v, fa + F.fields.values.offset, v.getUint8(fa + F.fields.nvalues.offset)),
      };
    });
    const actions = Array.from({ length: u8(S.fields.n_actions) }, (_, j) => {
      const aa = at + S.fields.actions.offset + ACT.size * j;
      return {
        kind: nameOf(ENUMS.vigil_action_kind, v.getUint8(aa + ACT.fields.kind.offset)),
        scope: nameOf(ENUMS.vigil_rate_scope, v.getUint8(aa + ACT.fields.scope.offset)),
        signal: v.getUint8(aa + ACT.fields.signal.offset),
        rateLimitNs: v.getBigUint64(aa + ACT.fields.rate_limit_ns.offset, true),
      };
    });
    const ns = Array.from({ length: u8(S.fields.n_ns) }, (_, j) => {
      const na = at + S.fields.ns.offset + NS.size * j;
      const n = v.getUint8(na + NS.fields.nvalues.offset);
      return {
        ns: nameOf(ENUMS.vigil_ns_kind, v.getUint8(na + NS.fields.ns.offset)),
        op: nameOf(ENUMS.vigil_set_op, v.getUint8(na + NS.fields.op.offset)),
        values: Array.from(
          { length: n },
          (_, k) => v.getUint32(na + NS.fields.values.offset + 4 * k, true),
        ),
      };
    });
    const caps = Array.from({ length: u8(S.fields.n_caps) }, (_, j) => {
      const ca = at + S.fields.caps.offset + CAP.size * j;
      return {
        set: nameOf(ENUMS.vigil_cap_set, v.getUint8(ca + CAP.fields.set.offset)),
        op: nameOf(ENUMS.vigil_set_op, v.getUint8(ca + CAP.fields.op.offset)),
        mask: v.getBigUint64(ca + CAP.fields.mask.offset, true),
        namespaced: (v.getUint8(ca + CAP.fields.flags.offset) &
          ENUMS.vigil_cap_flags.VIGIL_CAP_NAMESPACE) !== 0,
      };
    });
    return {
      filters,
      actions,
      ns,
      caps,
      pids: Array.from({ length: u8(S.fields.n_pid_filters) }, (_, j) => {
        const pa = at + S.fields.pids.offset + PIDS.size * j;
        return {
          op: nameOf(ENUMS.vigil_set_op, v.getUint8(pa + PIDS.fields.op.offset)),
          flags: v.getUint8(pa + PIDS.fields.flags.offset),
          values: Array.from(
            { length: v.getUint8(pa + PIDS.fields.nvalues.offset) },
            (_, k) => v.getUint32(pa + PIDS.fields.values.offset + 4 * k, true),
          ),
        };
      }),
      binOp: nameOf(ENUMS.vigil_set_op, u8(S.fields.bin_op)),
      binFlags: u8(S.fields.bin_flags),
      binSetId: v.getUint32(at + S.fields.bin_set_id.offset, true),
      pbinOp: nameOf(ENUMS.vigil_set_op, u8(S.fields.pbin_op)),
      pbinFlags: u8(S.fields.pbin_flags),
      pbinSetId: v.getUint32(at + S.fields.pbin_set_id.offset, true),
    };
  });
  return {
    policyId: v.getUint32(H.fields.policy_id.offset, true),
    flags: v.getUint8(H.fields.flags.offset),
    retOffset: v.getUint16(H.fields.ret_offset.offset, true),
    recSize: v.getUint16(H.fields.rec_size.offset, true),
    args,
    selectors,
  };
}

function ids(first = 1) {
  let next = first;
  return { hookId: 7, policyId: 3, allocSetId: () => next++ };
}

/** Every planned field of the hook is in its bytes. */
function assertRoundTrip(hook: PlannedHook): void {
  const out = compileHook(hook, ids());
  const d = decodeHook(out.hookBytes);
  assert.equal(d.policyId, 3);
  assert.equal(d.recSize, hook.recSize);
  assert.deepEqual(
    d.args,
    hook.args.map((a) => ({
      ctxOffset: a.ctxOffset,
      kind: a.kind,
      size: a.size,
      sizeArg: a.sizeArg,
    })),
  );
  assert.deepEqual(
    d.selectors.map((s) => ({
      filters: s.filters.map(({ arg, op, nvalues, values }) => ({ arg, op, nvalues, values })),
      actions: s.actions,
      ns: s.ns,
      caps: s.caps,
    })),
    hook.selectors.map((s) => ({
      filters: s.argFilters.map(({ arg, op, nvalues, values }) => ({ arg, op, nvalues, values })),
      actions: s.actions.map(({ kind, scope, signal, rateLimitNs }) => ({
        kind,
        scope,
        signal,
        rateLimitNs,
      })),
      ns: s.namespaces,
      caps: s.capabilities,
    })),
  );
}

function everyExample(): PolicyPlan[] {
  return [
    "policies/connect_port.yaml",
    "policies/etc_reads.yaml",
    "policies/file_deletion.yaml",
    "policies/kill_named_binary.yaml",
    "policies/privilege_change.yaml",
    "tests/fixtures/policy/file_deletion_expensive.yaml",
  ].map((f) => planPolicy(policyFile(f), facts()));
}

Deno.test("compileHook() encodes every example's hooks exactly as planned", () => {
  for (const plan of everyExample()) {
    for (const hook of plan.hooks) assertRoundTrip(hook);
  }
});

Deno.test("compileHook() writes one set entry per planned value, as the plan counts them", () => {
  for (const plan of everyExample()) {
    let str = 0, lpm = 0, int = 0;
    for (const hook of plan.hooks) {
      const out = compileHook(hook, ids());
      assert.deepEqual(
        { str: out.strSet.length, lpm: out.lpmSet.length, int: out.intSet.length },
        { str: hook.sets.str, lpm: hook.sets.lpm, int: hook.sets.int },
        hook.name,
      );
      str += out.strSet.length;
      lpm += out.lpmSet.length;
      int += out.intSet.length;
    }
    assert.deepEqual({ str, lpm, int }, {
      str: plan.sets.str,
      lpm: plan.sets.lpm,
      int: plan.sets.int,
    });
  }
});

Deno.test("compileHook() encodes a selector with every filter family", () => {
  const plan = planSpec([
    "  options:",
    "  - name: policy-mode",
    "    value: monitor",
    "  kprobes:",
    "  - call: sys_openat",
    "    args:",
    "    - index: 1",
    "      type: string",
    "    - index: 2",
    "      type: int",
    "    selectors:",
    "    - matchPIDs:",
    "      - operator: In",
    "        values: [10, 20]",
    "        isNamespacePID: true",
    "      - operator: NotIn",
    "        values: [1]",
    "        followForks: true",
    "      matchBinaries:",
    "      - operator: Prefix",
    '        values: ["/usr/bin/"]',
    "      matchNamespaces:",
    "      - namespace: Pid",
    "        operator: NotIn",
    '        values: ["host_ns"]',
    "      matchCapabilities:",
    "      - operator: In",
    "        values: [CAP_SYS_ADMIN]",
    "      matchArgs:",
    "      - index: 1",
    "        operator: Postfix",
    '        values: ["/shadow", "/passwd"]',
    "      - index: 2",
    "        operator: InMap",
    '        values: ["1:3"]',
    "      - index: 2",
    "        operator: NotInRange",
    '        values: ["-5:-1"]',
    "      matchActions:",
    "      - action: Post",
    '        rateLimit: "30"',
    "        rateLimitScope: process",
    "      - action: Sigkill",
    "    - matchParentBinaries:",
    "      - operator: In",
    '        values: ["/usr/sbin/sshd"]',
    "        followChildren: true",
    "      matchArgs:",
    "      - index: 1",
    "        operator: Equal",
    '        values: ["/etc/hosts"]',
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = onlyHook(plan);
  assertRoundTrip(hook);
  const out = compileHook(hook, ids(100));
  const d = decodeHook(out.hookBytes);
  assert.equal(d.flags, ENUMS.vigil_hook_flags.VIGIL_HOOK_MONITOR);
  const [first, second] = d.selectors;
  const PF = ENUMS.vigil_pid_flags;
  assert.deepEqual(first?.pids, [
    { op: "VIGIL_SET_IN", flags: PF.VIGIL_PID_NAMESPACE, values: [10, 20] },
    { op: "VIGIL_SET_NOT_IN", flags: PF.VIGIL_PID_FOLLOW, values: [1] },
  ]);
  assert.deepEqual(second?.pids, []);
  assert.deepEqual(first?.ns, [{
    ns: "VIGIL_NS_PID",
    op: "VIGIL_SET_NOT_IN",
    values: [HOST_NS.Pid],
  }]);
  assert.deepEqual(first?.caps, [{
    set: "VIGIL_CAP_EFFECTIVE",
    op: "VIGIL_SET_IN",
    mask: 1n << 21n,
    namespaced: false,
  }]);
  // Set ids in order: selector 0's binaries, its filters with sets, then selector 1's.
  assert.equal(first?.binOp, "VIGIL_SET_PREFIX");
  assert.equal(first?.binSetId, 100);
  assert.equal(first?.binFlags, 0);
  assert.equal(first?.pbinOp, "VIGIL_SET_NONE");
  assert.deepEqual(
    [second?.binOp, second?.pbinOp, second?.pbinFlags, second?.pbinSetId],
    ["VIGIL_SET_NONE", "VIGIL_SET_IN", ENUMS.vigil_bin_flags.VIGIL_BIN_FOLLOW, 103],
  );
  assert.deepEqual(first?.filters.map((f) => [f.op, f.setId, f.nvalues, f.values]), [
    ["VIGIL_MATCH_POSTFIX", 101, 0, []],
    ["VIGIL_MATCH_IN_MAP", 102, 0, []],
    ["VIGIL_MATCH_NOT_IN_RANGE", 0, 2, [BigInt.asUintN(64, -5n), BigInt.asUintN(64, -1n)]],
  ]);
  assert.deepEqual(second?.filters.map((f) => [f.op, f.setId]), [["VIGIL_MATCH_EQ", 104]]);
  assert.deepEqual(first?.actions, [
    {
      kind: "VIGIL_ACT_POST",
      scope: "VIGIL_RATE_PROCESS",
      signal: 0,
      rateLimitNs: 30_000_000_000n,
    },
    { kind: "VIGIL_ACT_SIGKILL", scope: "VIGIL_RATE_THREAD", signal: 9, rateLimitNs: 0n },
  ]);
  // The keys, byte for byte.
  assert.deepEqual(out.lpmSet.map((e) => e.key), [
    lpmSetKey(100, "/usr/bin/", false),
    lpmSetKey(101, "/shadow", true),
    lpmSetKey(101, "/passwd", true),
  ]);
  assert.deepEqual(out.intSet.map((e) => e.key), [1n, 2n, 3n].map((n) => intSetKey(102, n)));
  assert.deepEqual(out.strSet.map((e) => e.key), [
    strSetKey(103, "/usr/sbin/sshd"),
    strSetKey(104, "/etc/hosts"),
  ]);
  assert.deepEqual(setEntriesOf(out).lpm.length, 3);
});

Deno.test("compileHook() sets the exit flag and return offset of exit hooks", () => {
  const plan = planSpec([
    "  kprobes:",
    "  - call: sys_unlinkat",
    "    return: true",
    "    returnArg:",
    "      index: 0",
    "      type: int",
  ]);
  const exit = plan.hooks[1];
  assert.ok(exit);
  const d = decodeHook(compileHook(exit, ids()).hookBytes);
  assert.equal(d.flags, ENUMS.vigil_hook_flags.VIGIL_HOOK_EXIT);
  assert.equal(d.retOffset, 16);
  assert.equal(d.recSize, 24);
  assert.deepEqual(d.args, [{ ctxOffset: 16, kind: "VIGIL_ARG_INT", size: 4, sizeArg: 0 }]);
});

Deno.test("set keys follow struct vigil_str_key, vigil_lpm_key and vigil_int_key", () => {
  const str = strSetKey(0x01020304, "ab");
  assert.equal(str.length, STRUCTS.vigil_str_key.size);
  const sv = new DataView(str.buffer);
  assert.equal(sv.getUint32(STRUCTS.vigil_str_key.fields.set_id.offset, true), 0x01020304);
  const s = STRUCTS.vigil_str_key.fields.s.offset;
  assert.deepEqual([...str.subarray(s, s + 3)], [0x61, 0x62, 0]);
  assert.ok(str.subarray(s + 2).every((b) => b === 0), "zero-padded");

  const lpm = lpmSetKey(9, "abc", true);
  assert.equal(lpm.length, STRUCTS.vigil_lpm_key.size);
  const lv = new DataView(lpm.buffer);
  assert.equal(lv.getUint32(STRUCTS.vigil_lpm_key.fields.prefixlen.offset, true), 32 + 8 * 3);
  assert.equal(lv.getUint32(STRUCTS.vigil_lpm_key.fields.set_id.offset, true), 9);
  const l = STRUCTS.vigil_lpm_key.fields.s.offset;
  assert.equal(new TextDecoder().decode(lpm.subarray(l, l + 3)), "cba");

  const int = intSetKey(5, -2n);
  const iv = new DataView(int.buffer);
  assert.equal(int.length, STRUCTS.vigil_int_key.size);
  assert.equal(iv.getUint32(STRUCTS.vigil_int_key.fields.set_id.offset, true), 5);
  assert.equal(
    iv.getBigUint64(STRUCTS.vigil_int_key.fields.value.offset, true),
    0xfffffffffffffffen,
  );

  assert.throws(
    () => lpmSetKey(1, "x".repeat(STRUCTS.vigil_lpm_key.fields.s.size + 1), false),
    CompileError,
  );
});

Deno.test("compileHook() refuses a hook that cannot run here", () => {
  const plan = planPolicy(
    policyFile("tests/fixtures/policy/not_runnable/kprobe_fd_install.yaml"),
    facts(),
  );
  assert.throws(
    () => compileHook(onlyHook(plan), ids()),
    (err: unknown) =>
      err instanceof CompileError && /cannot run here: kprobe on fd_install/.test(err.message),
  );
});

Deno.test("compileHook() is deterministic", () => {
  const plan = planPolicy(policyFile("policies/etc_reads.yaml"), facts());
  const hook = plan.hooks[0];
  assert.ok(hook);
  const a = compileHook(hook, ids());
  const b = compileHook(hook, ids());
  assert.deepEqual(a, b);
});
