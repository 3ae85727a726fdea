/**
 * The policy package: Tetragon TracingPolicy files, run in the kernel.
 *
 * Stages, each a folder with its own face:
 * - `spec/`: YAML → a typed, validated {@link Policy} (located issues, no kernel work);
 * - `vocab/`: Tetragon's names and numbers (types, operators, actions, syscalls, limits);
 * - `plan/`: a policy plus this kernel's facts → a {@link PolicyPlan} (mechanism per hook, or why not);
 * - `mechanisms/`: the hook mechanism table (feature, program, attach, cost per mechanism);
 * - `compile.ts`: a planned hook → the bytes of the engine's maps;
 * - runtime: `engine.ts` (the loaded BPF object and its maps), `manager.ts` (the running set,
 *   atomic replace), `event_json.ts` (policy records → Tetragon-shaped JSON), `status.ts`.
 *
 * @module
 */

export * from "./spec/mod.ts";
export * from "./plan/mod.ts";
export { type CompiledHook, CompileError, compileHook, setEntriesOf } from "./compile.ts";
export { PolicyEngine, type SharedMaps } from "./engine.ts";
export { ENGINE_NEEDS, ENTRY_PROGRAMS, mechanismRow, MECHANISMS } from "./mechanisms/mod.ts";
export { type HookRoute, PolicyManager, type PolicyManagerDeps } from "./manager.ts";
export { type HookEventInfo, policyEventLine } from "./event_json.ts";
export type * from "./status.ts";
