/**
 * The compiler: one runnable {@link PlannedHook} → the bytes of one `struct vigil_hook` (the
 * value at index `hookId` of the hooks array map) and the keys of its set maps. Pure and
 * deterministic; every offset and enum value comes from the generated ABI module.
 *
 * Encoding, beyond the struct comments in `bpf/include/abi.h`:
 * - an arg filter with a set has `nvalues = 0` and `set_id` set; `nvalues` counts the inline u64
 *   values used, and range operators (`IN_RANGE`, `NOT_IN_RANGE`, `DPORT`, `NOT_DPORT`) store
 *   inclusive (lo, hi) pairs in `values[2i]`, `values[2i+1]` (so `nvalues` is twice the ranges);
 *   integers are u64 two's complement (an `int` arg is sign-extended by the kernel, so -100 is
 *   0xffffffffffffff9c);
 * - `VIGIL_MATCH_DADDR` values are `(prefixlen << 32) | s_addr` (the IPv4 address's 4 bytes as
 *   the kernel's `__be32` reads on this little-endian host);
 * - string sets: `vigil_str_key` is (set_id, string zero-padded); Prefix: `vigil_lpm_key` with
 *   `prefixlen = 32 + 8 × len` (the 32 bits of set_id first); Postfix: the same over the
 *   string's bytes reversed; integer sets: `vigil_int_key` (set_id, u64 value);
 * - set ids are allocated in order: per selector, `matchBinaries` first, then
 *   `matchParentBinaries`, then its arg filters;
 * - `matchPIDs` entries are `struct vigil_pid_filter`s, ANDed; `followForks` and
 *   `followChildren` are flags the kernel answers by walking the caller's ancestors;
 * - every selector has at least one action (an empty `matchActions` is one Post), in the
 *   written order;
 * - `flags`: `VIGIL_HOOK_MONITOR` for `policy-mode: monitor`, `VIGIL_HOOK_EXIT` (with
 *   `ret_offset`) for syscall exit hooks.
 *
 * @module
 */

import { ENUMS, STRUCTS } from "../bpf/abi.gen.ts";
import { cidrSetKey } from "./plan/args_kernel.ts";
import type {
  PlannedAction,
  PlannedArg,
  PlannedArgFilter,
  PlannedBinaries,
  PlannedHook,
  PlannedPids,
  PlannedSelector,
  PlannedSet,
} from "./plan/mod.ts";

const HOOK = STRUCTS.vigil_hook;
const ARG = STRUCTS.vigil_hook_arg;
const SEL = STRUCTS.vigil_selector;
const FILTER = STRUCTS.vigil_arg_filter;
const ACTION = STRUCTS.vigil_action;
const NS = STRUCTS.vigil_ns_filter;
const CAP = STRUCTS.vigil_cap_filter;
const PIDS = STRUCTS.vigil_pid_filter;
const PID_FLAGS = ENUMS.vigil_pid_flags;
const STR_KEY = STRUCTS.vigil_str_key;
const LPM_KEY = STRUCTS.vigil_lpm_key;
const INT_KEY = STRUCTS.vigil_int_key;
const FLAGS = ENUMS.vigil_hook_flags;

/** Ids the caller (the policy manager) assigns. */
export interface CompileIds {
  /** Index of the hook in the hooks map, and its attach cookie. */
  readonly hookId: number;
  /** Written to `vigil_hook.policy_id` (and echoed in events); default 0. */
  readonly policyId?: number;
  /** A fresh set id, unique across every hook sharing the set maps. */
  allocSetId(): number;
}

/** One map key, ready for `bpf_map_update_elem`. */
export interface SetEntry {
  readonly key: Uint8Array<ArrayBuffer>;
}

/** What one hook compiles to. */
export interface CompiledHook {
  readonly hookId: number;
  /** One `struct vigil_hook`. */
  readonly hookBytes: Uint8Array<ArrayBuffer>;
  /** Keys of the string hash (`struct vigil_str_key`). */
  readonly strSet: readonly SetEntry[];
  /** Keys of the LPM trie (`struct vigil_lpm_key`). */
  readonly lpmSet: readonly SetEntry[];
  /** Keys of the integer hash (`struct vigil_int_key`). */
  readonly intSet: readonly SetEntry[];
}

/** A hook that cannot be encoded (not runnable, or beyond the ABI's limits). */
export class CompileError extends Error {
  override name = "CompileError";
}

const encoder = new TextEncoder();

function stringBytes(s: string, reversed: boolean, max: number): Uint8Array {
  const bytes = encoder.encode(s);
  if (bytes.length > max) {
    throw new CompileError(`set value of ${bytes.length} bytes exceeds the key's ${max}`);
  }
  return reversed ? bytes.reverse() : bytes;
}

/**
 * A `struct vigil_str_key`: set id and the string, zero-padded.
 *
 * @example
 * ```ts
 * strSetKey(7, "/usr/bin/nc").length; // 264
 * ```
 */
export function strSetKey(setId: number, s: string): Uint8Array<ArrayBuffer> {
  const key = new Uint8Array(STR_KEY.size);
  new DataView(key.buffer).setUint32(STR_KEY.fields.set_id.offset, setId, true);
  key.set(stringBytes(s, false, STR_KEY.fields.s.size), STR_KEY.fields.s.offset);
  return key;
}

/**
 * A `struct vigil_lpm_key` for a Prefix (or, `reversed`, a Postfix) value: prefixlen covers the
 * 32 bits of the set id and 8 bits per byte of the string.
 *
 * @example
 * ```ts
 * new DataView(lpmSetKey(1, "/etc/", false).buffer).getUint32(0, true); // 32 + 8 * 5
 * ```
 */
export function lpmSetKey(setId: number, s: string, reversed: boolean): Uint8Array<ArrayBuffer> {
  const key = new Uint8Array(LPM_KEY.size);
  const bytes = stringBytes(s, reversed, LPM_KEY.fields.s.size);
  const view = new DataView(key.buffer);
  view.setUint32(LPM_KEY.fields.prefixlen.offset, 32 + 8 * bytes.length, true);
  view.setUint32(LPM_KEY.fields.set_id.offset, setId, true);
  key.set(bytes, LPM_KEY.fields.s.offset);
  return key;
}

/**
 * A `struct vigil_int_key`: set id and the value as u64 (two's complement).
 *
 * @example
 * ```ts
 * intSetKey(3, 263n).length; // 16
 * ```
 */
export function intSetKey(setId: number, value: bigint): Uint8Array<ArrayBuffer> {
  const key = new Uint8Array(INT_KEY.size);
  const view = new DataView(key.buffer);
  view.setUint32(INT_KEY.fields.set_id.offset, setId, true);
  view.setBigUint64(INT_KEY.fields.value.offset, BigInt.asUintN(64, value), true);
  return key;
}

interface Sets {
  readonly str: SetEntry[];
  readonly lpm: SetEntry[];
  readonly int: SetEntry[];
}

function addSet(set: PlannedSet, setId: number, sets: Sets): void {
  switch (set.kind) {
    case "str":
      for (const s of set.values) sets.str.push({ key: strSetKey(setId, s) });
      return;
    case "lpm":
      for (const s of set.values) sets.lpm.push({ key: lpmSetKey(setId, s, set.reversed) });
      return;
    case "int":
      for (const v of set.values) sets.int.push({ key: intSetKey(setId, v) });
      return;
    case "cidr":
      for (const p of set.values) sets.lpm.push({ key: cidrSetKey(setId, p) });
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new CompileError(what);
}

function writeArg(view: DataView, at: number, arg: PlannedArg): void {
  const f = ARG.fields;
  check(
    arg.ctxOffset >= 0 && arg.ctxOffset <= 0xffff,
    `arg ctx offset ${arg.ctxOffset} out of range`,
  );
  view.setUint16(at + f.ctx_offset.offset, arg.ctxOffset, true);
  view.setUint8(at + f.kind.offset, ENUMS.vigil_arg_kind[arg.kind]);
  view.setUint8(at + f.size.offset, arg.size);
  view.setUint8(at + f.size_arg.offset, arg.sizeArg);
}

function writeFilter(view: DataView, at: number, filter: PlannedArgFilter, setId: number): void {
  const f = FILTER.fields;
  check(filter.values.length <= f.values.count, `arg filter with ${filter.values.length} values`);
  view.setUint8(at + f.arg.offset, filter.arg);
  view.setUint8(at + f.op.offset, ENUMS.vigil_match_op[filter.op]);
  view.setUint8(at + f.nvalues.offset, filter.nvalues);
  view.setUint32(at + f.set_id.offset, setId, true);
  filter.values.forEach((v, i) => {
    view.setBigUint64(at + f.values.offset + 8 * i, BigInt.asUintN(64, v), true);
  });
}

function writeAction(view: DataView, at: number, a: PlannedAction): void {
  const f = ACTION.fields;
  view.setUint8(at + f.kind.offset, ENUMS.vigil_action_kind[a.kind]);
  view.setUint8(at + f.scope.offset, ENUMS.vigil_rate_scope[a.scope]);
  view.setUint8(at + f.signal.offset, a.signal);
  view.setInt32(at + f.error.offset, a.error ?? 0, true);
  view.setBigUint64(at + f.rate_limit_ns.offset, a.rateLimitNs, true);
}

function writePids(view: DataView, at: number, p: PlannedPids): void {
  const f = PIDS.fields;
  check(p.values.length <= f.values.count, `${p.values.length} pids`);
  view.setUint8(at + f.op.offset, ENUMS.vigil_set_op[p.op]);
  view.setUint8(
    at + f.flags.offset,
    (p.namespacePid ? PID_FLAGS.VIGIL_PID_NAMESPACE : 0) |
      (p.follow ? PID_FLAGS.VIGIL_PID_FOLLOW : 0),
  );
  view.setUint8(at + f.nvalues.offset, p.values.length);
  p.values.forEach((v, i) => view.setUint32(at + f.values.offset + 4 * i, v, true));
}

function binFlags(b: PlannedBinaries): number {
  return b.follow ? ENUMS.vigil_bin_flags.VIGIL_BIN_FOLLOW : 0;
}

function writeSelector(
  view: DataView,
  at: number,
  sel: PlannedSelector,
  ids: CompileIds,
  sets: Sets,
): void {
  const f = SEL.fields;
  check(sel.argFilters.length <= f.args.count, `${sel.argFilters.length} arg filters`);
  check(sel.actions.length >= 1 && sel.actions.length <= f.actions.count, "actions");
  check(sel.namespaces.length <= f.ns.count, `${sel.namespaces.length} namespace filters`);
  check(sel.capabilities.length <= f.caps.count, `${sel.capabilities.length} capability filters`);
  view.setUint8(at + f.n_arg_filters.offset, sel.argFilters.length);
  view.setUint8(at + f.n_actions.offset, sel.actions.length);
  view.setUint8(at + f.n_ns.offset, sel.namespaces.length);
  view.setUint8(at + f.n_caps.offset, sel.capabilities.length);
  check(sel.pids.length <= f.pids.count, `${sel.pids.length} pid filters`);
  view.setUint8(at + f.n_pid_filters.offset, sel.pids.length);
  sel.pids.forEach((p, i) => writePids(view, at + f.pids.offset + PIDS.size * i, p));
  if (sel.binaries !== undefined) {
    const setId = ids.allocSetId();
    view.setUint8(at + f.bin_op.offset, ENUMS.vigil_set_op[sel.binaries.op]);
    view.setUint8(at + f.bin_flags.offset, binFlags(sel.binaries));
    view.setUint32(at + f.bin_set_id.offset, setId, true);
    addSet(sel.binaries.set, setId, sets);
  }
  if (sel.parentBinaries !== undefined) {
    const setId = ids.allocSetId();
    view.setUint8(at + f.pbin_op.offset, ENUMS.vigil_set_op[sel.parentBinaries.op]);
    view.setUint8(at + f.pbin_flags.offset, binFlags(sel.parentBinaries));
    view.setUint32(at + f.pbin_set_id.offset, setId, true);
    addSet(sel.parentBinaries.set, setId, sets);
  }
  sel.namespaces.forEach((n, i) => {
    const base = at + f.ns.offset + NS.size * i;
    check(n.values.length <= NS.fields.values.count, `${n.values.length} namespace values`);
    view.setUint8(base + NS.fields.ns.offset, ENUMS.vigil_ns_kind[n.ns]);
    view.setUint8(base + NS.fields.op.offset, ENUMS.vigil_set_op[n.op]);
    view.setUint8(base + NS.fields.nvalues.offset, n.values.length);
    n.values.forEach((v, j) => view.setUint32(base + NS.fields.values.offset + 4 * j, v, true));
  });
  sel.capabilities.forEach((c, i) => {
    const base = at + f.caps.offset + CAP.size * i;
    view.setUint8(base + CAP.fields.set.offset, ENUMS.vigil_cap_set[c.set]);
    view.setUint8(base + CAP.fields.op.offset, ENUMS.vigil_set_op[c.op]);
    view.setUint8(
      base + CAP.fields.flags.offset,
      c.namespaced ? ENUMS.vigil_cap_flags.VIGIL_CAP_NAMESPACE : 0,
    );
    view.setBigUint64(base + CAP.fields.mask.offset, c.mask, true);
  });
  sel.argFilters.forEach((filter, i) => {
    let setId = 0;
    if (filter.set !== undefined) {
      setId = ids.allocSetId();
      addSet(filter.set, setId, sets);
    }
    writeFilter(view, at + f.args.offset + FILTER.size * i, filter, setId);
  });
  sel.actions.forEach((a, i) => writeAction(view, at + f.actions.offset + ACTION.size * i, a));
}

/**
 * Encodes a runnable planned hook. Throws {@link CompileError} for a hook with errors (check
 * `hook.runnable` first) or one beyond the ABI's limits.
 *
 * @example
 * ```ts
 * let next = 1;
 * const out = compileHook(plan.hooks[0]!, { hookId: 0, allocSetId: () => next++ });
 * out.hookBytes.length; // STRUCTS.vigil_hook.size
 * ```
 */
export function compileHook(hook: PlannedHook, ids: CompileIds): CompiledHook {
  if (!hook.runnable) {
    throw new CompileError(
      `compile ${hook.name}: the hook cannot run here: ${hook.errors[0]?.message ?? hook.why}`,
    );
  }
  const f = HOOK.fields;
  check(hook.args.length <= f.args.count, `${hook.name}: ${hook.args.length} args`);
  check(
    hook.selectors.length <= f.selectors.count,
    `${hook.name}: ${hook.selectors.length} selectors`,
  );
  const bytes = new Uint8Array(HOOK.size);
  const view = new DataView(bytes.buffer);
  view.setUint32(f.policy_id.offset, ids.policyId ?? 0, true);
  view.setUint8(f.n_args.offset, hook.args.length);
  view.setUint8(f.n_selectors.offset, hook.selectors.length);
  view.setUint8(
    f.flags.offset,
    (hook.monitor ? FLAGS.VIGIL_HOOK_MONITOR : 0) | (hook.exit ? FLAGS.VIGIL_HOOK_EXIT : 0) |
      (hook.syscall ? FLAGS.VIGIL_HOOK_SYSCALL : 0),
  );
  view.setUint16(f.ret_offset.offset, hook.exit ? hook.retOffset : 0, true);
  check(hook.recSize >= 0 && hook.recSize <= 0xffff, `${hook.name}: record size ${hook.recSize}`);
  view.setUint16(f.rec_size.offset, hook.recSize, true);
  hook.args.forEach((a, i) => writeArg(view, f.args.offset + ARG.size * i, a));
  const sets: Sets = { str: [], lpm: [], int: [] };
  hook.selectors.forEach((s, i) =>
    writeSelector(view, f.selectors.offset + SEL.size * i, s, ids, sets)
  );
  return {
    hookId: ids.hookId,
    hookBytes: bytes,
    strSet: sets.str,
    lpmSet: sets.lpm,
    intSet: sets.int,
  };
}

/**
 * The set keys of a compiled hook grouped per map, the shape `PolicyEngine.addSets` and
 * `removeSets` take.
 *
 * @example
 * ```ts
 * engine.addSets(setEntriesOf(compiled));
 * ```
 */
export function setEntriesOf(c: CompiledHook): {
  str: Uint8Array<ArrayBuffer>[];
  lpm: Uint8Array<ArrayBuffer>[];
  int: Uint8Array<ArrayBuffer>[];
} {
  return {
    str: c.strSet.map((e) => e.key),
    lpm: c.lpmSet.map((e) => e.key),
    int: c.intSet.map((e) => e.key),
  };
}
