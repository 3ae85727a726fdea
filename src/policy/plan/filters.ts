/**
 * Translates one `matchArgs`/`matchReturnArgs` entry into a `struct vigil_arg_filter`: the
 * kernel operator, inline values (≤ 4 values or 4 inclusive ranges) or a set of map entries.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { ENUMS } from "../../bpf/abi.gen.ts";
import { parseInteger } from "../vocab/mod.ts";
import type { ArgKind, MatchOp, PlannedArg, PlannedArgFilter } from "./types.ts";
import type { ArgFilter, ArgOperator, IpPrefix } from "../spec/mod.ts";
import type { IssueSink } from "./issues.ts";
import { planKernelFilter } from "./args_kernel.ts";
import { FILE_STRING_KINDS, fileTypeFilter } from "./args_file.ts";

const LIMITS = ENUMS.vigil_policy_limits;
/** Inline values of a non-range filter (the ABI stores 8 u64: 4 values or 4 pairs). */
const MAX_INLINE = LIMITS.VIGIL_MAX_VALUES / 2;
/** Entries an InMap filter may expand to (ranges are expanded into the integer set). */
export const MAX_INT_SET_ENTRIES = 65536;
const U64 = 64;

const INTEGER_KINDS = new Set<ArgKind>([
  "VIGIL_ARG_INT",
  "VIGIL_ARG_UINT",
  "VIGIL_ARG_SYSCALL_ID",
  "VIGIL_ARG_CAP_SET",
]);
/** Kinds the kernel matches as strings (the FD's path, the BUF's bytes). */
const STRING_KINDS = new Set<ArgKind>([
  "VIGIL_ARG_STRING",
  "VIGIL_ARG_DATA_LOC",
  "VIGIL_ARG_FD",
  "VIGIL_ARG_BUF",
  "VIGIL_ARG_NET_DEVICE",
  ...FILE_STRING_KINDS,
]);

const encoder = new TextEncoder();

/** u64 as the kernel compares it: two's complement of negative values. */
export function asU64(v: bigint): bigint {
  return BigInt.asUintN(U64, v);
}

function describe(arg: PlannedArg, pos: number): string {
  const name = arg.role === "return" ? "the return value" : `args[${pos}]`;
  return `${name} (${arg.label === undefined ? "" : `${arg.label}, `}type ${arg.type})`;
}

function integersOf(f: ArgFilter, sink: IssueSink): bigint[] | undefined {
  const m = f.match;
  if (m.kind === "integers") return [...m.values];
  if (m.kind === "unresolved") {
    const out: bigint[] = [];
    for (const text of m.values) {
      const n = parseInteger(text, { base: 0, bits: 64, signed: true }) ??
        parseInteger(text, { base: 0, bits: 64, signed: false });
      if (n === undefined) {
        sink.error(f.at, `${JSON.stringify(text)} is not an integer (the arg is an integer field)`);
        return undefined;
      }
      out.push(n);
    }
    return out;
  }
  return undefined;
}

function stringsOf(f: ArgFilter): readonly string[] | undefined {
  const m = f.match;
  return m.kind === "strings" || m.kind === "unresolved" ? m.values : undefined;
}

/** Longest value a string filter can hold: exact and Prefix values (LPM data is capped). */
function maxBytes(op: ArgOperator): number {
  if (op === "Equal" || op === "NotEqual") return LIMITS.VIGIL_STR_MAX - 1;
  return LIMITS.VIGIL_LPM_STR_MAX - 1;
}

function checkStrings(f: ArgFilter, values: readonly string[], sink: IssueSink): boolean {
  const max = maxBytes(f.operator);
  for (const v of values) {
    const n = encoder.encode(v).length;
    if (n > max) {
      sink.error(
        f.at,
        `${f.operator} value of ${n} bytes: vigil's in-kernel matcher compares at most ${max} ` +
          `bytes for ${f.operator}`,
      );
      return false;
    }
  }
  return true;
}

function inline(
  f: ArgFilter,
  pos: number,
  op: MatchOp,
  values: readonly bigint[],
  sink: IssueSink,
): PlannedArgFilter | undefined {
  if (values.length > MAX_INLINE) {
    sink.error(f.at, `at most ${MAX_INLINE} values per ${f.operator} entry`);
    return undefined;
  }
  return { at: f.at, arg: pos, op, values: values.map(asU64), nvalues: values.length };
}

function pairs(
  f: ArgFilter,
  pos: number,
  op: MatchOp,
  ranges: readonly (readonly [bigint, bigint])[],
  sink: IssueSink,
): PlannedArgFilter | undefined {
  if (ranges.length > MAX_INLINE) {
    sink.error(f.at, `at most ${MAX_INLINE} ranges per ${f.operator} entry`);
    return undefined;
  }
  const values = ranges.flatMap(([lo, hi]) => [asU64(lo), asU64(hi)]);
  return { at: f.at, arg: pos, op, values, nvalues: values.length };
}

/** The integer set of an InMap/NotInMap entry: values, expanded ranges and list ids. */
function intSet(f: ArgFilter, sink: IssueSink): bigint[] | undefined {
  const m = f.match;
  if (m.kind !== "inMap") return undefined;
  const all = new Set<bigint>();
  for (const v of m.values) all.add(asU64(v));
  for (const list of m.lists) for (const id of list.ids) all.add(BigInt(id));
  for (const [lo, hi] of m.ranges) {
    if (hi - lo + 1n + BigInt(all.size) > BigInt(MAX_INT_SET_ENTRIES)) {
      sink.error(
        f.at,
        `${f.operator} range ${lo}:${hi} expands to more than ${MAX_INT_SET_ENTRIES} set entries ` +
          `(ranges are stored value by value); use InRange/NotInRange for wide ranges`,
      );
      return undefined;
    }
    for (let v = lo; v <= hi; v++) all.add(asU64(v));
  }
  return [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `(prefixlen << 32) | s_addr`, s_addr being the address bytes as the kernel's `__be32` reads. */
function addressValue(p: IpPrefix): bigint {
  const [a = 0, b = 0, c = 0, d = 0] = p.bytes;
  const sAddr = (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
  return (BigInt(p.prefixLen) << 32n) | BigInt(sAddr);
}

const STRING_OPS: Partial<Record<ArgOperator, MatchOp>> = {
  Equal: "VIGIL_MATCH_EQ",
  NotEqual: "VIGIL_MATCH_NEQ",
  Prefix: "VIGIL_MATCH_PREFIX",
  NotPrefix: "VIGIL_MATCH_NOT_PREFIX",
  Postfix: "VIGIL_MATCH_POSTFIX",
  NotPostfix: "VIGIL_MATCH_NOT_POSTFIX",
};

const INTEGER_OPS: Partial<Record<ArgOperator, MatchOp>> = {
  Equal: "VIGIL_MATCH_EQ",
  NotEqual: "VIGIL_MATCH_NEQ",
  GT: "VIGIL_MATCH_GT",
  LT: "VIGIL_MATCH_LT",
  Mask: "VIGIL_MATCH_MASK",
  InRange: "VIGIL_MATCH_IN_RANGE",
  NotInRange: "VIGIL_MATCH_NOT_IN_RANGE",
  InMap: "VIGIL_MATCH_IN_MAP",
  NotInMap: "VIGIL_MATCH_NOT_IN_MAP",
};

/** On a sockaddr (one address), Tetragon's "source" operators match that address. */
const SOCKADDR_OPS: Partial<Record<ArgOperator, MatchOp>> = {
  SPort: "VIGIL_MATCH_DPORT",
  NotSPort: "VIGIL_MATCH_NOT_DPORT",
  SPortPriv: "VIGIL_MATCH_DPORT_PRIV",
  NotSPortPriv: "VIGIL_MATCH_NOT_DPORT_PRIV",
  Family: "VIGIL_MATCH_FAMILY",
  SAddr: "VIGIL_MATCH_DADDR",
  NotSAddr: "VIGIL_MATCH_NOT_DADDR",
};

function unsupported(f: ArgFilter, arg: PlannedArg, pos: number, sink: IssueSink): undefined {
  sink.error(
    f.at,
    `operator ${f.operator} on ${describe(arg, pos)} is not supported by vigil's in-kernel matcher`,
  );
  return undefined;
}

function stringFilter(
  f: ArgFilter,
  pos: number,
  op: MatchOp,
  sink: IssueSink,
): PlannedArgFilter | undefined {
  const values = stringsOf(f);
  if (values === undefined || !checkStrings(f, values, sink)) return undefined;
  const exact = f.operator === "Equal" || f.operator === "NotEqual";
  return {
    at: f.at,
    arg: pos,
    op,
    values: [],
    nvalues: 0,
    set: exact
      ? { kind: "str", values }
      : { kind: "lpm", reversed: f.operator.endsWith("Postfix"), values },
  };
}

function integerFilter(
  f: ArgFilter,
  arg: PlannedArg,
  pos: number,
  op: MatchOp,
  sink: IssueSink,
): PlannedArgFilter | undefined {
  const m = f.match;
  switch (f.operator) {
    case "InRange":
    case "NotInRange":
      return m.kind === "ranges"
        ? pairs(f, pos, op, m.ranges, sink)
        : unsupported(f, arg, pos, sink);
    case "InMap":
    case "NotInMap": {
      const values = intSet(f, sink);
      if (values === undefined) return undefined;
      return { at: f.at, arg: pos, op, values: [], nvalues: 0, set: { kind: "int", values } };
    }
    default: {
      if (m.kind === "strings") {
        sink.error(f.at, `${f.operator} compares strings, but ${describe(arg, pos)} is an integer`);
        return undefined;
      }
      const values = integersOf(f, sink);
      return values === undefined
        ? unsupported(f, arg, pos, sink)
        : inline(f, pos, op, values, sink);
    }
  }
}

function sockaddrFilter(
  f: ArgFilter,
  pos: number,
  op: MatchOp,
  sink: IssueSink,
): PlannedArgFilter | undefined {
  const m = f.match;
  if (m.kind === "none") return { at: f.at, arg: pos, op, values: [], nvalues: 0 };
  if (m.kind === "set") {
    const ranges = m.ranges.map(([lo, hi]) => [BigInt(lo), BigInt(hi)] as const);
    if (f.operator !== "Family") return pairs(f, pos, op, ranges, sink);
    const values: bigint[] = [];
    for (const [lo, hi] of ranges) {
      for (let v = lo; v <= hi && values.length <= MAX_INLINE; v++) values.push(v);
    }
    return inline(f, pos, op, values, sink);
  }
  if (m.kind === "addresses") {
    const v6 = m.prefixes.find((p) => p.family === 6);
    if (v6 !== undefined) {
      sink.error(
        f.at,
        `${f.operator} with an IPv6 address: vigil's in-kernel matcher compares IPv4 addresses ` +
          `and prefixes only`,
      );
      return undefined;
    }
    return inline(f, pos, op, m.prefixes.map(addressValue), sink);
  }
  return undefined;
}

/**
 * Plans one arg filter on the arg at `pos`; `undefined` after reporting why it cannot be
 * expressed (to `sink`).
 */
export function planArgFilter(
  f: ArgFilter,
  pos: number,
  arg: PlannedArg,
  sink: IssueSink,
): PlannedArgFilter | undefined {
  if (arg.kind === "VIGIL_ARG_NONE") {
    // The arg itself is in error (already reported) or is a nop.
    if (arg.type === "nop") {
      sink.error(f.at, `cannot filter ${describe(arg, pos)}: a nop arg is not read`);
    }
    return undefined;
  }
  const kernel = planKernelFilter(f, pos, arg, sink);
  if (kernel !== null) return kernel;
  if (arg.kind === "VIGIL_ARG_SOCKADDR" || arg.kind === "VIGIL_ARG_KSOCKADDR") {
    const op = SOCKADDR_OPS[f.operator];
    return op === undefined ? unsupported(f, arg, pos, sink) : sockaddrFilter(f, pos, op, sink);
  }
  const fileType = fileTypeFilter(f, pos, arg, sink);
  if (fileType !== undefined) return fileType === "none" ? undefined : fileType;
  if (STRING_KINDS.has(arg.kind)) {
    const op = STRING_OPS[f.operator];
    return op === undefined ? unsupported(f, arg, pos, sink) : stringFilter(f, pos, op, sink);
  }
  if (INTEGER_KINDS.has(arg.kind)) {
    const op = INTEGER_OPS[f.operator];
    return op === undefined ? unsupported(f, arg, pos, sink) : integerFilter(f, arg, pos, op, sink);
  }
  return unsupported(f, arg, pos, sink);
}
