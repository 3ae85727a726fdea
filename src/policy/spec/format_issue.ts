/**
 * One-line rendering of a {@link PolicyIssue}, the way compilers print diagnostics.
 *
 * @module
 */

import type { PolicyIssue } from "./types.ts";

/**
 * Renders an issue as `file:line:column: [severity: ]path: message` (the path is left out for
 * issues about the whole file).
 *
 * @example
 * ```ts
 * formatIssue({ file: "p.yaml", line: 3, column: 5, path: "metadata.name", message: "bad" }, "error");
 * // "p.yaml:3:5: error: metadata.name: bad"
 * ```
 */
export function formatIssue(issue: PolicyIssue, severity?: "error" | "warning"): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  const level = severity === undefined ? "" : `${severity}: `;
  const path = issue.path === "" ? "" : `${issue.path}: `;
  return `${where}: ${level}${path}${issue.message}`;
}
