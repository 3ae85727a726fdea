/**
 * Argument types of hook `args`/`data`/`returnArg`: the canonical names, Tetragon's aliases, and
 * the families the selector checks need (integer width and sign, string-like, network, capability).
 *
 * @module
 */

/** Canonical arg types (Tetragon's names; aliases such as `sint32` map onto these). */
export const ARG_TYPES = [
  "auto",
  "int",
  "uint32",
  "int8",
  "uint8",
  "int16",
  "uint16",
  "int64",
  "uint64",
  "size_t",
  "string",
  "char_buf",
  "char_iovec",
  "const_buf",
  "filename",
  "fd",
  "file",
  "path",
  "dentry",
  "kiocb",
  "iov_iter",
  "skb",
  "sock",
  "socket",
  "sockaddr",
  "sockaddr_un",
  "net_device",
  "cred",
  "user_namespace",
  "capability",
  "kernel_cap_t",
  "cap_inheritable",
  "cap_permitted",
  "cap_effective",
  "linux_binprm",
  "bpf_attr",
  "bpf_map",
  "bpf_prog",
  "bpf_cmd",
  "perf_event",
  "load_info",
  "module",
  "syscall64",
  "data_loc",
  "dns",
  "nop",
] as const;

/** A canonical arg type. */
export type ArgType = typeof ARG_TYPES[number];

const ALIASES: Readonly<Record<string, ArgType>> = {
  sint32: "int",
  int32: "int",
  sint8: "int8",
  sint16: "int16",
  long: "int64",
  sint64: "int64",
  ulong: "uint64",
};

const CANONICAL = new Set<string>(ARG_TYPES);

/**
 * Maps an arg type as written to its canonical name; `undefined` when unknown.
 *
 * @example
 * ```ts
 * normaliseArgType("sint32"); // "int"
 * normaliseArgType("long"); // "int64"
 * normaliseArgType("bogus"); // undefined
 * ```
 */
export function normaliseArgType(written: string): ArgType | undefined {
  if (CANONICAL.has(written)) return written as ArgType;
  return ALIASES[written];
}

/** Width and sign of an integer arg type, as Tetragon parses selector values for it. */
export interface IntegerShape {
  /** Bits of the value as stored in the selector (32 or 64). */
  readonly bits: 32 | 64;
  readonly signed: boolean;
}

const INTEGER_SHAPES: Readonly<Partial<Record<ArgType, IntegerShape>>> = {
  // Tetragon parses Equal/GT/LT/Mask values of these as 32-bit signed, size_t included.
  int: { bits: 32, signed: true },
  int8: { bits: 32, signed: true },
  int16: { bits: 32, signed: true },
  size_t: { bits: 32, signed: true },
  uint32: { bits: 32, signed: false },
  uint8: { bits: 32, signed: false },
  uint16: { bits: 32, signed: false },
  int64: { bits: 64, signed: true },
  syscall64: { bits: 64, signed: true },
  uint64: { bits: 64, signed: false },
  // A capability number (cap_capable's `cap`): an int in the kernel.
  capability: { bits: 32, signed: true },
};

/**
 * How selector values of an integer arg type are parsed; `undefined` for non-integer types.
 *
 * @example
 * ```ts
 * integerShape("uint32"); // { bits: 32, signed: false }
 * integerShape("string"); // undefined
 * ```
 */
export function integerShape(type: ArgType): IntegerShape | undefined {
  return INTEGER_SHAPES[type];
}

/** Whether InMap/InRange treat values of this integer type as unsigned. */
export function isUnsignedInteger(type: ArgType): boolean {
  return type === "uint8" || type === "uint16" || type === "uint32" || type === "uint64";
}

const STRING_EQUAL_TYPES = new Set<ArgType>([
  "fd",
  "file",
  "path",
  "dentry",
  "kiocb",
  "filename",
  "char_iovec",
  "string",
  "char_buf",
  "linux_binprm",
  "data_loc",
  "net_device",
]);

/**
 * Types whose Equal/NotEqual values are strings (string hash maps in the kernel).
 *
 * @example
 * ```ts
 * isStringEqualType("file"); // true
 * isStringEqualType("int"); // false
 * ```
 */
export function isStringEqualType(type: ArgType): boolean {
  return STRING_EQUAL_TYPES.has(type);
}

const STRING_MATCH_TYPES = new Set<ArgType>([
  ...STRING_EQUAL_TYPES,
  "filename",
  "dentry",
  "char_iovec",
  "const_buf",
  "dns",
]);

/** Types a Prefix/Postfix (and Not*) filter can apply to. */
export function isStringMatchType(type: ArgType): boolean {
  return STRING_MATCH_TYPES.has(type);
}

const NETWORK_TYPES = new Set<ArgType>(["sock", "socket", "skb", "sockaddr"]);

/** Types the network operators (SPort, DAddr, Protocol, Family, State, ...) apply to. */
export function isNetworkType(type: ArgType): boolean {
  return NETWORK_TYPES.has(type);
}

const CAPABILITY_TYPES = new Set<ArgType>([
  "kernel_cap_t",
  "cap_inheritable",
  "cap_permitted",
  "cap_effective",
]);

/** Capability-set types (values are masks or `CAP_*` lists). */
export function isCapabilityType(type: ArgType): boolean {
  return CAPABILITY_TYPES.has(type);
}
