/**
 * Tetragon's vocabulary: the names and numbers a TracingPolicy may use (argument types,
 * operators, actions, capabilities, namespaces, networks, syscalls), their normalisation, and the
 * limits vigil puts on a policy. Pure tables; nothing here knows about YAML or kernels.
 *
 * @module
 */

export * from "./actions.ts";
export * from "./arg_types.ts";
export * from "./capabilities.ts";
export * from "./int_parse.ts";
export * from "./limits.ts";
export * from "./namespaces.ts";
export * from "./network.ts";
export * from "./operators.ts";
export * from "./rate_limit.ts";
export * from "./syscalls.ts";
export { X86_64_SYSCALLS } from "./syscalls_x86_64.ts";
