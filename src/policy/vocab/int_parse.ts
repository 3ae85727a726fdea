/**
 * Integer parsing with the syntax and range rules Tetragon applies to selector values (Go's
 * `strconv.ParseInt`/`ParseUint`): base 10 only, or "base 0" where `0x`, `0o`, `0b` and a leading
 * `0` (octal) select the base.
 *
 * @module
 */

/** How to read an integer. */
export interface IntSyntax {
  /** 10: decimal only. 0: a prefix picks the base (`0x1f`, `0o17`, `017`, `0b101`). */
  readonly base: 0 | 10;
  /** Width of the result. */
  readonly bits: 8 | 16 | 32 | 64;
  /** Whether a sign and negative values are allowed. */
  readonly signed: boolean;
}

const DIGITS: Readonly<Record<number, RegExp>> = {
  2: /^[01]+(_?[01]+)*$/,
  8: /^[0-7]+(_?[0-7]+)*$/,
  10: /^[0-9]+(_?[0-9]+)*$/,
  16: /^[0-9a-fA-F]+(_?[0-9a-fA-F]+)*$/,
};

/**
 * Parses `text` as an integer of the given syntax; `undefined` when it is malformed or out of
 * range for the width and sign.
 *
 * @example
 * ```ts
 * parseInteger("0x10", { base: 0, bits: 32, signed: true }); // 16n
 * parseInteger("-1", { base: 10, bits: 64, signed: false }); // undefined
 * parseInteger("4294967296", { base: 10, bits: 32, signed: false }); // undefined
 * ```
 */
export function parseInteger(text: string, syntax: IntSyntax): bigint | undefined {
  let rest = text;
  let negative = false;
  if (rest.startsWith("+") || rest.startsWith("-")) {
    if (!syntax.signed) return undefined;
    negative = rest.startsWith("-");
    rest = rest.slice(1);
  }
  let radix = 10;
  let underscores = false;
  if (syntax.base === 0) {
    const lower = rest.toLowerCase();
    if (lower.startsWith("0x")) [radix, rest] = [16, rest.slice(2)];
    else if (lower.startsWith("0b")) [radix, rest] = [2, rest.slice(2)];
    else if (lower.startsWith("0o")) [radix, rest] = [8, rest.slice(2)];
    else if (rest.length > 1 && rest.startsWith("0")) [radix, rest] = [8, rest.slice(1)];
    underscores = true;
  }
  const digits = DIGITS[radix];
  if (digits === undefined || !digits.test(rest)) return undefined;
  if (!underscores && rest.includes("_")) return undefined;
  const clean = rest.replaceAll("_", "");
  const prefix = radix === 16 ? "0x" : radix === 8 ? "0o" : radix === 2 ? "0b" : "";
  let value = BigInt(prefix + clean);
  if (negative) value = -value;
  const bits = BigInt(syntax.bits);
  const min = syntax.signed ? -(1n << (bits - 1n)) : 0n;
  const max = syntax.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  return value < min || value > max ? undefined : value;
}
