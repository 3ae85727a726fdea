/**
 * The plan stage: a {@link Policy} plus facts about this kernel → a {@link PolicyPlan} that says,
 * hook by hook, which mechanism runs it, where each argument is read and what it costs — or why
 * it cannot run here. Pure: tested against captured kernel facts.
 *
 * @module
 */

export { planPolicy } from "./plan.ts";
export * from "./types.ts";
export {
  type HostNamespaces,
  planFactsFrom,
  type PlanFactsOptions,
  readHostNamespaces,
} from "./facts.ts";
export { formatPlan, planJsonReplacer } from "./report.ts";
export * from "./tracepoint_format.ts";
export {
  btfFunctionNames,
  type FtraceLookup,
  ftraceLookup,
  KERNEL_LIST_LIMITS,
  type KernelSyscalls,
  readKernelSyscalls,
} from "./kernel_functions.ts";
