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
import { FENTRY_PROGRAM, KPROBE_PROGRAM, LSM_PROGRAM } from "./functions.ts";
import { TRACEPOINT_PROGRAM } from "./tracepoint.ts";
import type { EngineMechanism, EntryProgram, HookMechanism, Mechanism } from "./types.ts";

const ROWS: readonly HookMechanism[] = [
  {
    mechanism: "fentry",
    label: "fentry",
    feature: "fentry",
    engine: "fentry",
    program: FENTRY_PROGRAM,
    cost: (fn) => functionCost("fentry", fn),
  },
  {
    mechanism: "kprobe",
    label: "kprobe",
    feature: "kprobe",
    engine: "kprobe",
    program: KPROBE_PROGRAM,
    cost: (fn) => functionCost("kprobe", fn),
  },
  {
    mechanism: "syscall_tracepoint",
    label: "the syscall tracepoint",
    feature: "tracepoint",
    engine: "tracepoint",
    program: TRACEPOINT_PROGRAM,
    cost: syscallTracepointCost,
  },
  {
    mechanism: "tracepoint",
    label: "the tracepoint",
    feature: "tracepoint",
    engine: "tracepoint",
    program: TRACEPOINT_PROGRAM,
    cost: tracepointCost,
  },
  {
    mechanism: "raw_tracepoint",
    label: "the raw tracepoint",
    feature: "raw_tp",
    engine: "raw_tp",
    program: null,
    cost: tracepointCost,
  },
  {
    mechanism: "lsm",
    label: "the BPF LSM hook",
    feature: "lsm",
    engine: "lsm",
    program: LSM_PROGRAM,
    cost: lsmCost,
  },
  {
    mechanism: "uprobe",
    label: "the uprobe",
    feature: null,
    engine: null,
    program: null,
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

/** The distinct entry programs (several rows may share one). */
export const ENTRY_PROGRAMS: readonly EntryProgram[] = [
  ...new Set(ROWS.flatMap((r) => r.program === null ? [] : [r.program])),
];
