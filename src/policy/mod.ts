/**
 * TracingPolicy front end: parse and validate Tetragon-compatible policy files into a typed,
 * normalised model ({@link Policy}) for the compiler, with precise issues (file, line, column,
 * YAML path) for everything that is wrong. No kernel work happens here.
 *
 * @module
 */

export { parsePolicy, type ParseResult } from "./parse.ts";
export { loadPolicyDir, type PolicyFileResult } from "./load_dir.ts";
export { formatIssue } from "./format_issue.ts";
export { allSyscalls, resolveSyscall, syscallByNumber, type SyscallResolution } from "./lists.ts";
export { POLICY_LIMITS } from "./limits.ts";
export { parseRateLimit } from "./rate_limit.ts";
export { ARG_TYPES, normaliseArgType } from "./arg_types.ts";
export { ARG_OPERATORS, normaliseArgOperator } from "./operators.ts";
export { ACTION_NAMES, normaliseActionName } from "./actions.ts";
export * from "./types.ts";
