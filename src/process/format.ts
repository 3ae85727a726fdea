/**
 * Formatting of process fields for export: the shell-quoted `arguments` string, and boot-time →
 * RFC3339 wall-clock conversion (with the boot epoch measured once at start-up).
 *
 * @module
 */
import { rfc3339Seconds } from "../rfc3339.ts";

/** Characters that make an argument need quoting: whitespace, quotes, backslash, controls. */
// deno-lint-ignore no-control-regex -- control characters are what we look for
const NEEDS_QUOTING = /[\s"'\\\x00-\x1f\x7f]/;
// deno-lint-ignore no-control-regex -- control characters are what we escape
const ESCAPED = /[\\"\x00-\x1f\x7f]/g;
const NAMED_ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  '"': '\\"',
  "\n": "\\n",
  "\t": "\\t",
  "\r": "\\r",
};

/**
 * Quotes one argument for the `arguments` string: returned as is unless it is empty or contains
 * whitespace, a quote, a backslash or a control character; then it is wrapped in double quotes
 * with `\\`, `\"`, `\n`, `\t`, `\r` and `\xNN` escapes, so the string splits back unambiguously.
 *
 * @example
 * ```ts
 * quoteArg("-c"); // -c
 * quoteArg("echo hi"); // "echo hi"
 * quoteArg('say "x"'); // "say \"x\""
 * ```
 */
export function quoteArg(arg: string): string {
  if (arg.length !== 0 && !NEEDS_QUOTING.test(arg)) return arg;
  return `"${arg.replace(ESCAPED, escapeChar)}"`;
}

function escapeChar(ch: string): string {
  return NAMED_ESCAPES[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/**
 * Joins arguments (argv without argv[0], as Tetragon exports them) into one space-separated,
 * shell-quoted string; see {@link quoteArg}.
 *
 * @example
 * ```ts
 * shellQuoteArgs(["-c", "echo hi; exit 3"]); // -c "echo hi; exit 3"
 * ```
 */
export function shellQuoteArgs(args: readonly string[]): string {
  let out = "";
  for (let i = 0; i < args.length; i++) {
    if (i !== 0) out += " ";
    out += quoteArg(args[i]!);
  }
  return out;
}

const NS_PER_SEC = 1_000_000_000n;

/**
 * Converts a kernel boot-time timestamp (ns since boot, `CLOCK_BOOTTIME`) to RFC3339 UTC with 9
 * fractional digits, given the wall-clock time of boot in ns since the Unix epoch.
 *
 * @example
 * ```ts
 * bootTimeToRfc3339(1_500_000_001n, 1_700_000_000_000_000_000n);
 * // "2023-11-14T22:13:21.500000001Z"
 * ```
 */
export function bootTimeToRfc3339(ktimeNs: bigint, bootEpochNs: bigint): string {
  const wall = bootEpochNs + ktimeNs;
  let sec = wall / NS_PER_SEC;
  let frac = wall % NS_PER_SEC;
  if (frac < 0n) {
    frac += NS_PER_SEC;
    sec -= 1n;
  }
  return rfc3339Seconds(Number(sec)) + fraction(Number(frac));
}

/** ".nnnnnnnnnZ" of a nanosecond fraction. */
function fraction(ns: number): string {
  return "." + String(ns).padStart(9, "0") + "Z";
}

/**
 * A per-event boot-time → RFC3339 formatter: same output as {@link bootTimeToRfc3339}, but it
 * remembers the formatted date of the last second, so consecutive events (which share the second)
 * cost two bigint operations and a short concatenation instead of a `Date`.
 *
 * @example
 * ```ts
 * const clock = new BootTimeFormatter(measureBootEpochNs());
 * clock.format(16817705012542n);
 * ```
 */
export class BootTimeFormatter {
  /** Wall-clock ns of boot, as given to the constructor. */
  readonly bootEpochNs: bigint;
  #lastSec = -1n;
  #lastPrefix = "";

  constructor(bootEpochNs: bigint) {
    this.bootEpochNs = bootEpochNs;
  }

  /** Formats a boot-time ns timestamp as RFC3339 UTC with 9 fractional digits. */
  format(ktimeNs: bigint): string {
    const wall = this.bootEpochNs + ktimeNs;
    let sec = wall / NS_PER_SEC;
    let frac = wall - sec * NS_PER_SEC;
    if (frac < 0n) {
      frac += NS_PER_SEC;
      sec -= 1n;
    }
    if (sec !== this.#lastSec) {
      this.#lastSec = sec;
      this.#lastPrefix = rfc3339Seconds(Number(sec));
    }
    return this.#lastPrefix + fraction(Number(frac));
  }
}

const CLOCK_REALTIME = 0;
const CLOCK_BOOTTIME = 7;

/**
 * Measures the wall-clock time of boot (ns since the Unix epoch) so boot-time timestamps from the
 * kernel convert to wall time: reads `CLOCK_REALTIME`, `CLOCK_BOOTTIME`, `CLOCK_REALTIME` through
 * libc's `clock_gettime` `samples` times and keeps the pair with the tightest realtime bracket
 * (epoch = midpoint of the two realtime reads − boottime). Needs `--allow-ffi`; throws when libc or
 * the clocks are unavailable (see {@link bootEpochFromProcStat} for a coarse fallback).
 *
 * @example
 * ```ts
 * const bootEpochNs = measureBootEpochNs();
 * bootTimeToRfc3339(16817705012542n, bootEpochNs);
 * ```
 */
export function measureBootEpochNs(samples = 16): bigint {
  const lib = Deno.dlopen(
    "libc.so.6",
    {
      clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    } as const,
  );
  try {
    const ts = new BigInt64Array(2);
    const read = (clock: number): bigint => {
      if (lib.symbols.clock_gettime(clock, ts) !== 0) {
        throw new Error(`clock_gettime(${clock}) failed`);
      }
      return ts[0]! * NS_PER_SEC + ts[1]!;
    };
    let best: bigint | undefined;
    let bestSpan = 0n;
    for (let i = 0; i < Math.max(1, samples); i++) {
      const r1 = read(CLOCK_REALTIME);
      const boot = read(CLOCK_BOOTTIME);
      const r2 = read(CLOCK_REALTIME);
      const span = r2 - r1;
      if (best === undefined || span < bestSpan) {
        best = r1 + span / 2n - boot;
        bestSpan = span;
      }
    }
    return best!;
  } finally {
    lib.close();
  }
}

/**
 * Coarse boot epoch (whole seconds) from the `btime` line of `/proc/stat`, for when FFI is not
 * available. Throws when the line is missing.
 */
export function bootEpochFromProcStat(
  statText: string = Deno.readTextFileSync("/proc/stat"),
): bigint {
  const m = /^btime (\d+)$/m.exec(statText);
  if (!m) throw new Error("/proc/stat: no btime line");
  return BigInt(m[1]!) * NS_PER_SEC;
}
