/**
 * Keeps what is said about a policy text bounded whatever the text: the first issues only (and
 * how many more there were), each message and path cut to a length. A hostile text must not turn
 * into an answer, a log or a report many times its size.
 *
 * @module
 */

import { POLICY_REPORT_LIMITS } from "./input_limits.ts";
import type { PolicyIssue } from "./types.ts";

/** `text` cut to `max` characters, with `…` marking the cut (never splits a surrogate pair). */
export function clip(text: string, max: number = POLICY_REPORT_LIMITS.maxIssueChars): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/**
 * The first `max` issues (in the order given), each with message and path clipped; when there
 * were more, a last issue says how many, located at the first one left out.
 */
export function boundIssues(
  issues: readonly PolicyIssue[],
  kind: "error" | "warning",
  max: number = POLICY_REPORT_LIMITS.maxIssues,
): PolicyIssue[] {
  const kept = issues.slice(0, max).map((i) => ({
    ...i,
    message: clip(i.message),
    path: clip(i.path),
  }));
  const first = issues[max];
  if (first !== undefined) {
    const more = issues.length - max;
    kept.push({
      file: first.file,
      line: first.line,
      column: first.column,
      path: "",
      message: `and ${more} more ${kind}${more === 1 ? "" : "s"} (only the first ${max} are shown)`,
    });
  }
  return kept;
}
