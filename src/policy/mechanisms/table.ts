/**
 * The hook mechanism table: one row per way of attaching a policy hook. The planner reads the
 * feature and program columns to decide what can run here, the engine loads and attaches through
 * the program column, the manager and the agent read names and costs from it. A new mechanism is
 * a row (and its entry program), not a branch in those four places.
 *
 * @module
 */

import {
  functionCost,
  lsmCost,
  syscallTracepointCost,
  tracepointCost,
  uprobeCost,
} from "./costs.ts";
import { FENTRY_PROGRAM, KPROBE_MULTI_PROGRAM, KPROBE_PROGRAM, LSM_PROGRAM } from "./functions.ts";
import { TRACEPOINT_PROGRAM } from "./tracepoint.ts";
import type { FeatureName } from "../../kernel/types.ts";
import type { EngineMechanism, EntryProgram, HookMechanism, Mechanism } from "./types.ts";

/**
 * What every engine program needs: the selector library (bpf/lib/policy.h) walks selectors and
 * filters in bpf_loop callbacks (5.17+); kernels before 5.13 refuse the object outright ("number
 * of funcs in func_info doesn't match number of subprogs"). The tracepoint entry also keys hooks
 * by bpf_get_attach_cookie (5.15+), which bpf_loop's 5.17 already implies; it gets its own row
 * here once a no-bpf_loop build of the library exists and a probe answers for the cookie.
 */
const SELECTOR_ENGINE_NEEDS = ["bpf_loop"] as const;

const ROWS: readonly HookMechanism[] = [
  {
    mechanism: "fentry",
    label: "fentry",
    feature: "fentry",
    engine: "fentry",
    program: FENTRY_PROGRAM,
    engineNeeds: SELECTOR_ENGINE_NEEDS,
    cost: (fn) => functionCost("fentry", fn),
  },
  {
    mechanism: "kprobe",
    label: "kprobe",
    feature: "kprobe",
    engine: "kprobe",
    program: KPROBE_PROGRAM,
    engineNeeds: SELECTOR_ENGINE_NEEDS,
    cost: (fn) => functionCost("kprobe", fn),
  },
  {
    mechanism: "kprobe_multi",
    label: "kprobe_multi",
    feature: "kprobe_multi",
    engine: "kprobe",
    program: KPROBE_MULTI_PROGRAM,
    engineNeeds: SELECTOR_ENGINE_NEEDS,
    cost: (fn) => functionCost("kprobe", fn),
  },
  {
    mechanism: "syscall_tracepoint",
    label: "the syscall tracepoint",
    feature: "tracepoint",
    engine: "tracepoint",
    program: TRACEPOINT_PROGRAM,
    engineNeeds: SELECTOR_ENGINE_NEEDS,
    cost: syscallTracepointCost,
  },
  {
    mechanism: "tracepoint",
    label: "the tracepoint",
    feature: "tracepoint",
    engine: "tracepoint",
    program: TRACEPOINT_PROGRAM,
    engineNeeds: SELECTOR_ENGINE_NEEDS,
    cost: tracepointCost,
  },
  {
    mechanism: "raw_tracepoint",
    label: "the raw tracepoint",
    feature: "raw_tp",
    engine: "raw_tp",
    program: null,
    engineNeeds: [],
    cost: tracepointCost,
  },
  {
    mechanism: "lsm",
    label: "the BPF LSM hook",
    feature: "lsm",
    engine: "lsm",
    program: LSM_PROGRAM,
    engineNeeds: SELECTOR_ENGINE_NEEDS,
    cost: lsmCost,
  },
  {
    mechanism: "uprobe",
    label: "the uprobe",
    feature: null,
    engine: null,
    program: null,
    engineNeeds: [],
    cost: uprobeCost,
  },
];

/** Every mechanism's row. */
export const MECHANISMS: ReadonlyMap<Mechanism, HookMechanism> = new Map(
  ROWS.map((row) => [row.mechanism, row]),
);

/** The row of `mechanism`. */
export function mechanismRow(mechanism: Mechanism): HookMechanism {
  const row = MECHANISMS.get(mechanism);
  if (row === undefined) throw new Error(`no hook mechanism ${mechanism}`);
  return row;
}

/** The engine program types that have a program: what the engine can run today. */
export const ENGINE_PROGRAMS: readonly EngineMechanism[] = [
  ...new Set(ROWS.flatMap((r) => r.program !== null && r.engine !== null ? [r.engine] : [])),
];

/** Every kernel feature some engine program needs (the agent probes these before loading it). */
export const ENGINE_NEEDS: readonly FeatureName[] = [
  ...new Set(ROWS.flatMap((r) => r.engineNeeds)),
];

/** The distinct entry programs (several rows may share one). */
export const ENTRY_PROGRAMS: readonly EntryProgram[] = [
  ...new Set(ROWS.flatMap((r) => r.program === null ? [] : [r.program])),
];
