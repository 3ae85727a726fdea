/**
 * Selector action names (Tetragon matches them case-insensitively) and rate-limit scopes.
 *
 * @module
 */

/** Canonical action names vigil accepts. */
export const ACTION_NAMES = [
  "Post",
  "NoPost",
  "Sigkill",
  "Signal",
  "Override",
  "GetUrl",
  "DnsLookup",
  "TrackSock",
  "UntrackSock",
  "NotifyEnforcer",
  "CleanupEnforcerNotification",
] as const;

/** A canonical action name. */
export type ActionName = typeof ACTION_NAMES[number];

const BY_LOWER = new Map<string, ActionName>(ACTION_NAMES.map((a) => [a.toLowerCase(), a]));

/** Actions Tetragon knows that vigil refuses, keyed by lower-case name, with the reason. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  followfd: "action FollowFD was deprecated in Tetragon 1.4 and removed later; vigil does not " +
    "support it",
  unfollowfd:
    "action UnfollowFD was deprecated in Tetragon 1.4 and removed later; vigil does not " +
    "support it",
  copyfd: "action CopyFD was deprecated in Tetragon 1.4 and removed later; vigil does not " +
    "support it",
};

/** Valid Tetragon actions vigil cannot run: the policy is valid, not runnable. */
const NOT_RUNNABLE: Readonly<Record<string, string>> = {
  set: "action Set (writes a value into a USDT argument, Tetragon 1.6) is valid Tetragon; vigil " +
    "has no USDT program: not runnable",
};

/**
 * Maps an action name as written (any case, as Tetragon) to its canonical name. Returns
 * `{ reason }` for actions vigil knows but refuses (`valid: true` when Tetragon accepts them: the
 * policy is then valid and not runnable), `undefined` for unknown ones.
 *
 * @example
 * ```ts
 * normaliseActionName("sigkill"); // "Sigkill"
 * normaliseActionName("FollowFD"); // { reason: "action FollowFD was deprecated ..." }
 * normaliseActionName("Explode"); // undefined
 * ```
 */
export function normaliseActionName(
  written: string,
): ActionName | { reason: string; valid?: true } | undefined {
  const lower = written.toLowerCase();
  const name = BY_LOWER.get(lower);
  if (name !== undefined) return name;
  const notRunnable = NOT_RUNNABLE[lower];
  if (notRunnable !== undefined) return { reason: notRunnable, valid: true };
  const reason = UNSUPPORTED[lower];
  return reason === undefined ? undefined : { reason };
}

/** Who shares one rate-limit budget: each thread (default), each process, or everyone. */
export type RateLimitScope = "thread" | "process" | "global";

/**
 * Validates a `rateLimitScope` (exact lower-case spelling, as Tetragon).
 *
 * @example
 * ```ts
 * normaliseRateLimitScope("process"); // "process"
 * normaliseRateLimitScope("Process"); // undefined
 * ```
 */
export function normaliseRateLimitScope(written: string): RateLimitScope | undefined {
  return written === "thread" || written === "process" || written === "global"
    ? written
    : undefined;
}
