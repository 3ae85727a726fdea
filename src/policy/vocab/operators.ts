/**
 * Selector operators: the canonical names vigil uses, the spellings Tetragon accepts for each
 * (`eq`, `gt`, `GreaterThan`, `NotSportPriv`, ...), and the operator families.
 *
 * @module
 */

/** Canonical `matchArgs`/`matchData`/`matchReturnArgs` operators. */
export const ARG_OPERATORS = [
  "Equal",
  "NotEqual",
  "Prefix",
  "NotPrefix",
  "Postfix",
  "NotPostfix",
  "Mask",
  "GT",
  "LT",
  "InMap",
  "NotInMap",
  "InRange",
  "NotInRange",
  "SPort",
  "NotSPort",
  "SPortPriv",
  "NotSPortPriv",
  "DPort",
  "NotDPort",
  "DPortPriv",
  "NotDPortPriv",
  "SAddr",
  "NotSAddr",
  "DAddr",
  "NotDAddr",
  "Protocol",
  "Family",
  "State",
  "FileType",
  "NotFileType",
  "CapabilitiesGained",
  "Capability",
  "SubString",
  "SubStringIgnCase",
] as const;

/** A canonical arg operator. */
export type ArgOperator = typeof ARG_OPERATORS[number];

/** Every spelling Tetragon accepts, mapped to the canonical name. */
const ARG_OPERATOR_SPELLINGS: Readonly<Record<string, ArgOperator>> = {
  eq: "Equal",
  Equal: "Equal",
  neq: "NotEqual",
  NotEqual: "NotEqual",
  prefix: "Prefix",
  Prefix: "Prefix",
  notprefix: "NotPrefix",
  NotPrefix: "NotPrefix",
  postfix: "Postfix",
  Postfix: "Postfix",
  notpostfix: "NotPostfix",
  NotPostfix: "NotPostfix",
  mask: "Mask",
  Mask: "Mask",
  gt: "GT",
  GT: "GT",
  GreaterThan: "GT",
  lt: "LT",
  LT: "LT",
  LessThan: "LT",
  InMap: "InMap",
  NotInMap: "NotInMap",
  InRange: "InRange",
  NotInRange: "NotInRange",
  sport: "SPort",
  Sport: "SPort",
  SPort: "SPort",
  notsport: "NotSPort",
  NotSport: "NotSPort",
  NotSPort: "NotSPort",
  sportpriv: "SPortPriv",
  SportPriv: "SPortPriv",
  SPortPriv: "SPortPriv",
  notsportpriv: "NotSPortPriv",
  NotSportPriv: "NotSPortPriv",
  NotSPortPriv: "NotSPortPriv",
  dport: "DPort",
  Dport: "DPort",
  DPort: "DPort",
  notdport: "NotDPort",
  NotDport: "NotDPort",
  NotDPort: "NotDPort",
  dportpriv: "DPortPriv",
  DportPriv: "DPortPriv",
  DPortPriv: "DPortPriv",
  notdportpriv: "NotDPortPriv",
  NotDportPriv: "NotDPortPriv",
  NotDPortPriv: "NotDPortPriv",
  saddr: "SAddr",
  Saddr: "SAddr",
  SAddr: "SAddr",
  notsaddr: "NotSAddr",
  NotSaddr: "NotSAddr",
  NotSAddr: "NotSAddr",
  daddr: "DAddr",
  Daddr: "DAddr",
  DAddr: "DAddr",
  notdaddr: "NotDAddr",
  NotDaddr: "NotDAddr",
  NotDAddr: "NotDAddr",
  protocol: "Protocol",
  Protocol: "Protocol",
  family: "Family",
  Family: "Family",
  state: "State",
  State: "State",
  FileType: "FileType",
  NotFileType: "NotFileType",
  CapabilitiesGained: "CapabilitiesGained",
  Capability: "Capability",
  SubString: "SubString",
  SubStringIgnCase: "SubStringIgnCase",
};

/** Valid Tetragon operators vigil cannot run yet: the policy is valid, not runnable. */
const NOT_RUNNABLE_ARG_OPERATORS: Readonly<Record<string, string>> = {
  CelExpr: "operator CelExpr (a CEL expression over the arg, Tetragon 1.7) is valid Tetragon; " +
    "vigil's engine has no CEL compiler for in-kernel filters yet: not runnable",
};

/** Spellings Tetragon knows that vigil refuses, with the reason. */
const UNSUPPORTED_ARG_OPERATORS: Readonly<Record<string, string>> = {
  In: "operator In is for matchPIDs/matchBinaries/matchNamespaces; matchArgs uses Equal or InMap",
  NotIn:
    "operator NotIn is for matchPIDs/matchBinaries/matchNamespaces; matchArgs uses NotEqual or NotInMap",
};

/**
 * Maps an arg operator as written to its canonical name. Returns `{ reason }` for spellings vigil
 * knows but refuses (`valid: true` when Tetragon accepts them: the policy is then valid and not
 * runnable), and `undefined` for unknown ones.
 *
 * @example
 * ```ts
 * normaliseArgOperator("eq"); // "Equal"
 * normaliseArgOperator("GreaterThan"); // "GT"
 * normaliseArgOperator("CelExpr"); // { reason: "operator CelExpr ... not runnable", valid: true }
 * ```
 */
export function normaliseArgOperator(
  written: string,
): ArgOperator | { reason: string; valid?: true } | undefined {
  const op = ARG_OPERATOR_SPELLINGS[written];
  if (op !== undefined) return op;
  const notRunnable = NOT_RUNNABLE_ARG_OPERATORS[written];
  if (notRunnable !== undefined) return { reason: notRunnable, valid: true };
  const reason = UNSUPPORTED_ARG_OPERATORS[written];
  return reason === undefined ? undefined : { reason };
}

/** `In`/`NotIn`: the operators of matchPIDs, matchNamespaces and matchCapabilities. */
export type SetOperator = "In" | "NotIn";

/**
 * Maps `In`/`NotIn` (exact spelling, as Tetragon) to itself; anything else is `undefined`.
 *
 * @example
 * ```ts
 * normaliseSetOperator("In"); // "In"
 * normaliseSetOperator("Equal"); // undefined
 * ```
 */
export function normaliseSetOperator(written: string): SetOperator | undefined {
  return written === "In" || written === "NotIn" ? written : undefined;
}

/** Operators of `matchBinaries`. */
export type BinaryOperator = "In" | "NotIn" | "Prefix" | "NotPrefix" | "Postfix" | "NotPostfix";

const BINARY_OPERATOR_SPELLINGS: Readonly<Record<string, BinaryOperator>> = {
  In: "In",
  NotIn: "NotIn",
  prefix: "Prefix",
  Prefix: "Prefix",
  notprefix: "NotPrefix",
  NotPrefix: "NotPrefix",
  postfix: "Postfix",
  Postfix: "Postfix",
  notpostfix: "NotPostfix",
  NotPostfix: "NotPostfix",
};

/**
 * Maps a `matchBinaries` operator as written to its canonical name; `undefined` when invalid.
 *
 * @example
 * ```ts
 * normaliseBinaryOperator("postfix"); // "Postfix"
 * ```
 */
export function normaliseBinaryOperator(written: string): BinaryOperator | undefined {
  return BINARY_OPERATOR_SPELLINGS[written];
}

/** Canonical spellings accepted for matchArgs, for error messages. */
export const ARG_OPERATOR_NAMES: readonly string[] = ARG_OPERATORS;

/** Operators whose values are port numbers (or `min:max` ranges). */
export const PORT_OPERATORS: ReadonlySet<ArgOperator> = new Set([
  "SPort",
  "NotSPort",
  "DPort",
  "NotDPort",
]);

/** Operators that take no values (privileged port checks). */
export const PRIV_PORT_OPERATORS: ReadonlySet<ArgOperator> = new Set([
  "SPortPriv",
  "NotSPortPriv",
  "DPortPriv",
  "NotDPortPriv",
]);

/** Address operators (IP or CIDR values). */
export const ADDRESS_OPERATORS: ReadonlySet<ArgOperator> = new Set([
  "SAddr",
  "NotSAddr",
  "DAddr",
  "NotDAddr",
]);

/** Every operator that only applies to sock/socket/skb/sockaddr args. */
export const NETWORK_OPERATORS: ReadonlySet<ArgOperator> = new Set([
  ...PORT_OPERATORS,
  ...PRIV_PORT_OPERATORS,
  ...ADDRESS_OPERATORS,
  "Protocol",
  "Family",
  "State",
]);

/** Network operators a `sockaddr` arg supports (it holds one address, matched as the source). */
export const SOCKADDR_OPERATORS: ReadonlySet<ArgOperator> = new Set([
  "SAddr",
  "NotSAddr",
  "SPort",
  "NotSPort",
  "SPortPriv",
  "NotSPortPriv",
  "Family",
]);
