/**
 * Bounds on what an error answer echoes back: the first errors only (with how many were left
 * out), each string field cut. A request of at most the body limit can then never produce an
 * answer many times its size. Private to `src/api/`.
 *
 * @module
 */

/** Errors listed in one answer. */
export const MAX_ERRORS_IN_ANSWER = 20;
/** Characters of one string field of an error (message, path, file). */
export const MAX_ERROR_CHARS = 300;

/** `text` cut to `max` characters, marked with `…`. */
export function cut(text: string, max = MAX_ERROR_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The first `max` errors with their string fields cut, and how many more there were. */
export function boundErrors<T extends object>(
  errors: readonly T[],
  max = MAX_ERRORS_IN_ANSWER,
): { errors: T[]; more: number } {
  const kept = errors.slice(0, max).map((e) =>
    Object.fromEntries(
      Object.entries(e).map(([k, v]) => [k, typeof v === "string" ? cut(v) : v]),
    ) as T
  );
  return { errors: kept, more: Math.max(0, errors.length - max) };
}

/** A policy change the agent refused or could not make: an error with an HTTP status. */
export function changeFailure(err: unknown): { status: 500 | 503; message: string } | undefined {
  if (!(err instanceof Error) || !("status" in err)) return undefined;
  const status = err.status;
  return status === 500 || status === 503 ? { status, message: cut(err.message) } : undefined;
}
