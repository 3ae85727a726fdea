/**
 * Checks and parses the `values` of one `matchArgs`/`matchData`/`matchReturnArgs` entry for its
 * operator and the type of the arg it filters, with Tetragon's rules and limits.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import {
  type ArgType,
  integerShape,
  isCapabilityType,
  isNetworkType,
  isStringEqualType,
  isStringMatchType,
  isUnsignedInteger,
} from "../vocab/mod.ts";
import { capabilityByName } from "../vocab/mod.ts";
import { parseInteger } from "../vocab/mod.ts";
import { POLICY_LIMITS } from "../vocab/mod.ts";
import { type NetworkNameKind, networkNameValue, parseIpPrefix } from "../vocab/mod.ts";
import {
  ADDRESS_OPERATORS,
  type ArgOperator,
  NETWORK_OPERATORS,
  PORT_OPERATORS,
  PRIV_PORT_OPERATORS,
  SOCKADDR_OPERATORS,
} from "../vocab/mod.ts";
import type { IpPrefix, MatchValues, PolicyList } from "./types.ts";
import type { Located, LocatedString, Reader } from "./yaml_reader.ts";

/** Lists by name; `null` marks a list that is declared but invalid (already reported). */
export type ListIndex = ReadonlyMap<string, PolicyList | null>;

/** One entry to check. */
export interface MatchInput {
  readonly op: ArgOperator;
  /** Where the operator is (type mismatches point here). */
  readonly opAt: Located;
  /** Type of the filtered arg; `undefined` when that arg itself is invalid (skip type checks). */
  readonly type: ArgType | undefined;
  /** Describes the filtered arg for messages, e.g. `args[1] (index 1)`. */
  readonly argDesc: string;
  readonly values: readonly LocatedString[];
  /** How many items `values` had as written (including ones that were not strings). */
  readonly rawValueCount: number;
  /** Where `values` is (or the entry, when absent). */
  readonly valuesAt: Located;
  readonly lists: ListIndex;
}

const encoder = new TextEncoder();

function byteLength(s: string): number {
  return encoder.encode(s).length;
}

/** Reports values beyond `max`, at the first one over; returns whether the count is fine. */
function checkCount(r: Reader, input: MatchInput, max: number, what: string): boolean {
  const extra = input.values[max];
  if (extra === undefined) return true;
  r.error(
    extra.at,
    `at most ${max} values per ${what} (Tetragon's limit); found ${input.values.length}` +
      (input.op === "Equal" || input.op === "NotEqual"
        ? `: use ${input.op === "Equal" ? "InMap" : "NotInMap"} for more`
        : ""),
  );
  return false;
}

function typeError(r: Reader, input: MatchInput, needs: string): undefined {
  r.error(
    input.opAt,
    `operator ${input.op} needs ${needs}; ${input.argDesc} has type ${input.type}`,
  );
  return undefined;
}

function parseIntegers(
  r: Reader,
  input: MatchInput,
  bits: 32 | 64,
  signed: boolean | "either",
): bigint[] | undefined {
  const out: bigint[] = [];
  let ok = true;
  for (const v of input.values) {
    const n = signed === "either"
      ? parseInteger(v.value, { base: 0, bits, signed: true }) ??
        parseInteger(v.value, { base: 0, bits, signed: false })
      : parseInteger(v.value, { base: 0, bits, signed });
    if (n === undefined) {
      r.error(
        v.at,
        `${JSON.stringify(v.value)} is not a valid ${
          signed === true ? "signed" : signed === false ? "unsigned" : ""
        }${signed === "either" ? "" : " "}${bits}-bit integer for ${input.op}`,
      );
      ok = false;
    } else {
      out.push(n);
    }
  }
  return ok ? out : undefined;
}

function parseCapabilityMask(text: string): bigint | undefined {
  const n = parseInteger(text, { base: 0, bits: 64, signed: false });
  if (n !== undefined) return n;
  let mask = 0n;
  for (const part of text.split(",")) {
    const cap = capabilityByName(part);
    if (cap === undefined) return undefined;
    mask |= 1n << BigInt(cap.nr);
  }
  return mask;
}

function parseMasks(r: Reader, input: MatchInput): bigint[] | undefined {
  const out: bigint[] = [];
  let ok = true;
  for (const v of input.values) {
    const mask = parseCapabilityMask(v.value);
    if (mask === undefined) {
      r.error(
        v.at,
        `${JSON.stringify(v.value)} is not a capability mask: use a number or CAP_* names ` +
          `separated by commas`,
      );
      ok = false;
    } else {
      out.push(mask);
    }
  }
  return ok ? out : undefined;
}

function equalValues(r: Reader, input: MatchInput): MatchValues | undefined {
  const type = input.type;
  if (type === undefined) return undefined;
  if (type === "auto") return { kind: "unresolved", values: input.values.map((v) => v.value) };
  if (isStringEqualType(type)) return { kind: "strings", values: input.values.map((v) => v.value) };
  const shape = integerShape(type);
  if (shape !== undefined) {
    if (
      !checkCount(
        r,
        input,
        POLICY_LIMITS.valuesPerIntegerEntry,
        `${input.op} entry on an integer arg`,
      )
    ) {
      return undefined;
    }
    const values = parseIntegers(r, input, shape.bits, shape.signed);
    return values && { kind: "integers", values };
  }
  if (isCapabilityType(type)) {
    if (
      !checkCount(
        r,
        input,
        POLICY_LIMITS.valuesPerIntegerEntry,
        `${input.op} entry on a capability arg`,
      )
    ) return undefined;
    const masks = parseMasks(r, input);
    return masks && { kind: "capabilities", masks };
  }
  if (isNetworkType(type)) {
    r.error(
      input.opAt,
      `sock, socket, skb and sockaddr args do not support operator ${input.op}: use SAddr/DAddr, ` +
        `SPort/DPort, Protocol, Family or State (${input.argDesc} has type ${type})`,
    );
    return undefined;
  }
  return typeError(r, input, "a string-like, integer or capability arg");
}

function comparisonValues(r: Reader, input: MatchInput): MatchValues | undefined {
  const type = input.type;
  if (!checkCount(r, input, POLICY_LIMITS.valuesPerIntegerEntry, `${input.op} entry`)) {
    return undefined;
  }
  if (type === undefined) return undefined;
  if (type === "auto") {
    const values = parseIntegers(r, input, 64, "either");
    return values && { kind: "integers", values };
  }
  const shape = integerShape(type);
  if (shape !== undefined) {
    const values = parseIntegers(r, input, shape.bits, shape.signed);
    return values && { kind: "integers", values };
  }
  if (isCapabilityType(type) && input.op === "Mask") {
    const masks = parseMasks(r, input);
    return masks && { kind: "capabilities", masks };
  }
  return typeError(r, input, "an integer arg");
}

/** Capability: CAP_* names (or masks) any of which the kernel_cap_t/cap_* set holds. */
function capabilityValues(r: Reader, input: MatchInput): MatchValues | undefined {
  if (input.type === undefined) return undefined;
  if (!isCapabilityType(input.type)) return typeError(r, input, "a kernel_cap_t or cap_* arg");
  const masks = parseMasks(r, input);
  return masks && { kind: "capabilities", masks };
}

function rangeValues(r: Reader, input: MatchInput): MatchValues | undefined {
  const type = input.type;
  if (!checkCount(r, input, POLICY_LIMITS.valuesPerIntegerEntry, `${input.op} entry`)) {
    return undefined;
  }
  if (type === undefined) return undefined;
  const shape = type === "auto" ? { bits: 64 } : integerShape(type);
  if (shape === undefined) return typeError(r, input, "an integer arg");
  const ranges: Array<readonly [bigint, bigint]> = [];
  let ok = true;
  for (const v of input.values) {
    const parts = v.value.split(":");
    const lo = parts.length === 2
      ? parseInteger(parts[0] ?? "", { base: 0, bits: 64, signed: true })
      : undefined;
    const hi = parts.length === 2
      ? parseInteger(parts[1] ?? "", { base: 0, bits: 64, signed: true })
      : undefined;
    if (lo === undefined || hi === undefined) {
      r.error(
        v.at,
        `${input.op} values are "min:max" ranges such as "1:5"; got ${JSON.stringify(v.value)}`,
      );
      ok = false;
      continue;
    }
    if (shape.bits === 32 && (lo > 0xffff_ffffn || hi > 0xffff_ffffn)) {
      r.error(v.at, `range ${v.value} is out of range for a 32-bit arg (max ${0xffff_ffff})`);
      ok = false;
      continue;
    }
    if (lo > hi) {
      r.error(v.at, `range ${v.value} is empty: min is greater than max`);
      ok = false;
      continue;
    }
    ranges.push([lo, hi]);
  }
  return ok ? { kind: "ranges", ranges } : undefined;
}

function inMapValues(r: Reader, input: MatchInput): MatchValues | undefined {
  const type = input.type;
  if (type === undefined) return undefined;
  if (type !== "auto" && integerShape(type) === undefined) {
    return typeError(r, input, "an integer or syscall64 arg");
  }
  const unsigned = type !== "auto" && isUnsignedInteger(type);
  const syntax = { base: 10, bits: 64, signed: !unsigned } as const;
  const values: bigint[] = [];
  const ranges: Array<readonly [bigint, bigint]> = [];
  const lists: Array<{ name: string; ids: number[] }> = [];
  let ok = true;
  for (const v of input.values) {
    if (v.value.startsWith("list:")) {
      const name = v.value.slice("list:".length);
      const list = input.lists.get(name);
      if (list === undefined) {
        r.error(
          v.at,
          `list '${v.value}' not found: spec.lists has no entry named ${JSON.stringify(name)}`,
        );
        ok = false;
      } else if (list !== null) {
        if (list.syscalls === undefined) {
          r.error(
            v.at,
            `list '${name}' is not a syscall list (type ${list.type}); ${input.op} over a list needs ` +
              `type syscalls or generated_syscalls`,
          );
          ok = false;
        } else {
          // Any integer arg (raw_syscalls' uint64 id as much as syscall64) compares against the
          // list's syscall numbers, as in Tetragon.
          lists.push({ name, ids: list.syscalls.map((s) => s.nr) });
        }
      } else {
        ok = false;
      }
      continue;
    }
    if (v.value.includes(":")) {
      const parts = v.value.split(":");
      const lo = parts.length === 2 ? parseInteger(parts[0] ?? "", syntax) : undefined;
      const hi = parts.length === 2 ? parseInteger(parts[1] ?? "", syntax) : undefined;
      if (lo === undefined || hi === undefined) {
        r.error(v.at, `${JSON.stringify(v.value)} is not a "min:max" range of decimal integers`);
        ok = false;
      } else {
        ranges.push(lo <= hi ? [lo, hi] : [hi, lo]);
      }
      continue;
    }
    const n = parseInteger(v.value, syntax);
    if (n === undefined) {
      r.error(
        v.at,
        `${JSON.stringify(v.value)} is not a decimal ${unsigned ? "unsigned " : ""}integer, a ` +
          `"min:max" range or "list:NAME"`,
      );
      ok = false;
    } else {
      values.push(n);
    }
  }
  return ok ? { kind: "inMap", values, ranges, lists } : undefined;
}

function checkNetworkType(r: Reader, input: MatchInput): boolean {
  const type = input.type;
  if (type === undefined) return false;
  if (type === "auto") return true;
  if (!isNetworkType(type)) {
    typeError(r, input, "a sock, socket, skb or sockaddr arg");
    return false;
  }
  if (type === "sockaddr" && !SOCKADDR_OPERATORS.has(input.op)) {
    const swapped = input.op.replace("D", "S");
    r.error(
      input.opAt,
      `operator ${input.op} is not supported on sockaddr args: a sockaddr holds one address, ` +
        `which Tetragon matches with SAddr, SPort and Family` +
        (SOCKADDR_OPERATORS.has(swapped as ArgOperator) ? `; use ${swapped}` : ""),
    );
    return false;
  }
  return true;
}

const NAME_KIND: Partial<Record<ArgOperator, NetworkNameKind>> = {
  Protocol: "protocol",
  Family: "family",
  State: "state",
};

function setValues(r: Reader, input: MatchInput): MatchValues | undefined {
  if (!checkNetworkType(r, input)) return undefined;
  const isPort = PORT_OPERATORS.has(input.op);
  const nameKind = NAME_KIND[input.op];
  const max = isPort ? 65535 : Number.MAX_SAFE_INTEGER;
  const parse = (text: string): number | undefined => {
    const n = parseInteger(text, { base: 10, bits: 64, signed: false });
    return n === undefined || n > BigInt(max) ? undefined : Number(n);
  };
  const ranges: Array<readonly [number, number]> = [];
  let ok = true;
  for (const v of input.values) {
    const parts = v.value.split(":");
    let range: readonly [number, number] | undefined;
    if (parts.length === 1) {
      const n = (nameKind && networkNameValue(nameKind, v.value)) ?? parse(v.value);
      range = n === undefined ? undefined : [n, n];
    } else if (parts.length === 2) {
      const lo = parse(parts[0] ?? "");
      const hi = parse(parts[1] ?? "");
      range = lo === undefined || hi === undefined ? undefined : lo <= hi ? [lo, hi] : [hi, lo];
    }
    if (range === undefined) {
      const what = isPort
        ? "a port (0..65535) or a min:max port range"
        : nameKind === "protocol"
        ? "an IPPROTO_* name or a protocol number"
        : nameKind === "family"
        ? "an AF_* name or a family number"
        : "a TCP_* state name or a state number";
      r.error(v.at, `${JSON.stringify(v.value)} is not ${what}`);
      ok = false;
    } else {
      ranges.push(range);
    }
  }
  return ok ? { kind: "set", ranges } : undefined;
}

function addressValues(r: Reader, input: MatchInput): MatchValues | undefined {
  if (!checkNetworkType(r, input)) return undefined;
  const prefixes: IpPrefix[] = [];
  let ok = true;
  for (const v of input.values) {
    const p = parseIpPrefix(v.value);
    if (p === undefined) {
      r.error(v.at, `${JSON.stringify(v.value)} is not an IPv4/IPv6 address or CIDR prefix`);
      ok = false;
    } else {
      prefixes.push(p);
    }
  }
  return ok ? { kind: "addresses", prefixes } : undefined;
}

const FILE_TYPES: Readonly<Record<string, number>> = {
  sock: 0o140000,
  socket: 0o140000,
  lnk: 0o120000,
  link: 0o120000,
  reg: 0o100000,
  regular: 0o100000,
  blk: 0o060000,
  block: 0o060000,
  dir: 0o040000,
  chr: 0o020000,
  char: 0o020000,
  fifo: 0o010000,
  pipe: 0o010000,
};

function fileTypeValues(r: Reader, input: MatchInput): MatchValues | undefined {
  const type = input.type;
  if (type === undefined) return undefined;
  if (type !== "auto" && type !== "file" && type !== "path") {
    return typeError(r, input, "a file or path arg");
  }
  if (!checkCount(r, input, POLICY_LIMITS.valuesPerIntegerEntry, `${input.op} entry`)) {
    return undefined;
  }
  const modes: number[] = [];
  let ok = true;
  for (const v of input.values) {
    const mode = Object.hasOwn(FILE_TYPES, v.value) ? FILE_TYPES[v.value] : undefined;
    if (mode === undefined) {
      r.error(
        v.at,
        `unknown file type ${JSON.stringify(v.value)} (expected one of ${
          Object.keys(FILE_TYPES).join(", ")
        })`,
      );
      ok = false;
    } else {
      modes.push(mode);
    }
  }
  return ok ? { kind: "fileTypes", modes } : undefined;
}

function stringValues(
  r: Reader,
  input: MatchInput,
  maxBytes: number,
  typeOk: (t: ArgType) => boolean,
  needs: string,
): MatchValues | undefined {
  const type = input.type;
  if (type === undefined) return undefined;
  if (type !== "auto" && !typeOk(type)) return typeError(r, input, needs);
  let ok = true;
  for (const v of input.values) {
    const n = byteLength(v.value);
    if (n > maxBytes) {
      r.error(
        v.at,
        `${input.op} values are limited to ${maxBytes} bytes (Tetragon's limit); this one has ${n}`,
      );
      ok = false;
    }
  }
  return ok ? { kind: "strings", values: input.values.map((v) => v.value) } : undefined;
}

/**
 * Checks the values of one arg filter against its operator and arg type; returns the parsed
 * values, or `undefined` after reporting what is wrong. (CapabilitiesGained is handled by the
 * caller: it has no values and needs two args.)
 */
export function parseMatchValues(r: Reader, input: MatchInput): MatchValues | undefined {
  const op = input.op;
  if (input.rawValueCount === 0 && !PRIV_PORT_OPERATORS.has(op)) {
    r.warn(
      input.valuesAt,
      `${op} with no values ${op.startsWith("Not") ? "always" : "never"} matches`,
    );
  }
  switch (op) {
    case "Equal":
    case "NotEqual":
      return equalValues(r, input);
    case "GT":
    case "LT":
    case "Mask":
      return comparisonValues(r, input);
    case "InRange":
    case "NotInRange":
      return rangeValues(r, input);
    case "InMap":
    case "NotInMap":
      return inMapValues(r, input);
    case "Prefix":
    case "NotPrefix":
      return stringValues(
        r,
        input,
        POLICY_LIMITS.prefixMaxBytes,
        isStringMatchType,
        "a string-like arg",
      );
    case "Postfix":
    case "NotPostfix":
      return stringValues(
        r,
        input,
        POLICY_LIMITS.postfixMaxBytes,
        isStringMatchType,
        "a string-like arg",
      );
    case "SubString":
    case "SubStringIgnCase":
      return stringValues(
        r,
        input,
        POLICY_LIMITS.substringMaxBytes,
        (t) => t === "string" || t === "char_buf",
        "a string or char_buf arg",
      );
    case "FileType":
    case "NotFileType":
      return fileTypeValues(r, input);
    case "CapabilitiesGained":
      return undefined;
    case "Capability":
      return capabilityValues(r, input);
  }
  if (PRIV_PORT_OPERATORS.has(op)) {
    if (!checkNetworkType(r, input)) return undefined;
    if (input.values.length > 0) r.warn(input.valuesAt, `${op} takes no values; they are ignored`);
    return { kind: "none" };
  }
  if (ADDRESS_OPERATORS.has(op)) return addressValues(r, input);
  if (NETWORK_OPERATORS.has(op)) return setValues(r, input);
  return undefined;
}
