/**
 * The hook mechanism table ({@link MECHANISMS}): per mechanism, the kernel feature it needs, the
 * engine program that runs it, how that program is attached, and what it costs.
 *
 * @module
 */

export {
  ENGINE_NEEDS,
  ENGINE_PROGRAMS,
  ENTRY_PROGRAMS,
  mechanismRow,
  MECHANISMS,
} from "./table.ts";
export { TRACEPOINT_PROGRAM } from "./tracepoint.ts";
export { FENTRY_PROGRAM, KPROBE_MULTI_PROGRAM, KPROBE_PROGRAM, LSM_PROGRAM } from "./functions.ts";
export type * from "./types.ts";
