/**
 * Parses a `Post` action's `rateLimit` (`"30"`, `"30s"`, `"5m"`, `"1h"`) into milliseconds, the way
 * Tetragon stores it.
 *
 * @module
 */

/** Largest value the kernel side stores (u32 milliseconds, about 49.7 days). */
export const RATE_LIMIT_MAX_MS = 0xffff_ffff;

/**
 * Parses a rate limit: an unsigned decimal count of seconds, optionally suffixed with `s`, `m` or
 * `h` (either case). Returns milliseconds (capped at {@link RATE_LIMIT_MAX_MS}) or `undefined`
 * when the text is not a valid rate limit.
 *
 * @example
 * ```ts
 * parseRateLimit("30"); // 30000
 * parseRateLimit("5m"); // 300000
 * parseRateLimit("1h"); // 3600000
 * parseRateLimit("1d"); // undefined
 * ```
 */
export function parseRateLimit(text: string): number | undefined {
  const m = /^(\d+)([smhSMH]?)$/.exec(text);
  if (m === null || m[1] === undefined) return undefined;
  const count = Number(m[1]);
  if (!Number.isSafeInteger(count) || count > 0xffff_ffff) return undefined;
  const unit = (m[2] ?? "").toLowerCase();
  const seconds = unit === "h" ? 3600 : unit === "m" ? 60 : 1;
  return Math.min(count * seconds * 1000, RATE_LIMIT_MAX_MS);
}
