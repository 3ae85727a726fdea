/**
 * Limits on what a policy text may cost vigil, whoever sends it: bytes, YAML nesting, nodes (with
 * aliases expanded), keys per mapping, the time a parse may take, and how much of the errors is
 * reported back. Tetragon's own per-policy limits are in `limits.ts`; these ones guard the agent.
 *
 * @module
 */

/** Bounds on reading one policy text. */
export const POLICY_INPUT_LIMITS = {
  /** Bytes of one policy text (the API's default body limit is the same). */
  maxBytes: 1024 * 1024,
  /** Nesting of YAML collections. A real TracingPolicy nests about 10 deep. */
  maxDepth: 64,
  /** YAML nodes as written (scalars, collections, aliases). */
  maxNodes: 20_000,
  /** YAML nodes once every alias is expanded: what reading the document visits. */
  maxExpandedNodes: 20_000,
  /** Aliases (`*name`) in one document. */
  maxAliases: 1_000,
  /** Keys of one mapping. */
  maxKeysPerMapping: 1_000,
  /** Wall-clock time of one parse (off the event loop) before it is abandoned. */
  parseDeadlineMs: 5_000,
} as const;

/** Bounds on what is said back about a policy text. */
export const POLICY_REPORT_LIMITS = {
  /** Errors (and, separately, warnings) kept per policy text; the rest are counted. */
  maxIssues: 100,
  /** Characters of one issue's message or YAML path; longer ones are cut with `…`. */
  maxIssueChars: 300,
} as const;

/** Bounds on the set of policies and on the changes waiting to be made to it. */
export const POLICY_SET_LIMITS = {
  /** Policies known to the agent (enabled or in error). */
  maxPolicies: 256,
  /** Of those, policies kept in the error state (valid, but not runnable or not loadable). */
  maxErrorPolicies: 64,
  /** Policy changes (add, replace, delete, reload) waiting behind the one being made. */
  maxQueuedChanges: 16,
} as const;
