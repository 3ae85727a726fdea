/**
 * The spec stage: TracingPolicy YAML → a typed, normalised {@link Policy}, with precise issues
 * (file, line, column, YAML path) for everything that is wrong. No kernel work happens here.
 *
 * @module
 */

export type { ParseResult } from "./parse.ts";
export { parsePolicyLazily } from "./parse_lazy.ts";
export { type LoadDirOptions, loadPolicyDir, type PolicyFileResult } from "./load_dir.ts";
export { readPolicyFile } from "./read_file.ts";
export { boundIssues, clip } from "./bound_issues.ts";
export { POLICY_INPUT_LIMITS, POLICY_REPORT_LIMITS, POLICY_SET_LIMITS } from "./input_limits.ts";
export { OffThreadParser, type OffThreadParserOptions } from "./parse_off_thread.ts";
export type { YamlLimits } from "./yaml_read.ts";
export { formatIssue } from "./format_issue.ts";
export * from "./types.ts";
