/**
 * The spec stage: TracingPolicy YAML → a typed, normalised {@link Policy}, with precise issues
 * (file, line, column, YAML path) for everything that is wrong. No kernel work happens here.
 *
 * @module
 */

export { parsePolicy, type ParseResult } from "./parse.ts";
export { loadPolicyDir, type PolicyFileResult } from "./load_dir.ts";
export { formatIssue } from "./format_issue.ts";
export * from "./types.ts";
