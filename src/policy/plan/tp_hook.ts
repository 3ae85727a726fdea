/**
 * Builds the planned hook of a tracepoint hook on one tracepoint format: as written, or one of
 * the per-syscall hooks a raw_syscalls hook is split into.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import type { TracepointField, TracepointFormat } from "./tracepoint_format.ts";
import type {
  AttachPoint,
  HookCost,
  HookSource,
  Mechanism,
  MechanismOption,
  PlannedArg,
  PlannedEvent,
  PlannedHook,
} from "./types.ts";
import type { HookArg, Selector, TracepointHook } from "../spec/mod.ts";
import { placeholderArg, planArg } from "./args.ts";
import { finishHook, type PlanEnv, recordSize } from "./hook.ts";
import type { IssueSink } from "./issues.ts";
import { MECHANISM_NAMES } from "./mechanism.ts";
import { planSelectors } from "./selectors.ts";

/** Inputs of {@link tracepointHook}: one tracepoint hook on one format. */
export interface TracepointHookInput {
  readonly hook: TracepointHook;
  readonly env: PlanEnv;
  readonly sink: IssueSink;
  readonly format: TracepointFormat;
  /** The field an arg reads, or why there is none. */
  readonly fieldFor: (arg: HookArg) => TracepointField | string;
  /** The selectors that apply, with their positions as written. */
  readonly selectors: readonly Selector[];
  readonly selectorIndexes: readonly number[];
  readonly name: string;
  readonly source: HookSource;
  readonly mechanism: Mechanism;
  readonly options: readonly MechanismOption[];
  readonly why: string;
  readonly cost: HookCost;
  readonly event: PlannedEvent;
  readonly rewrittenFrom?: string;
}

/** Plans the args and selectors of a hook on the tracepoint `input.format`. */
export function tracepointHook(input: TracepointHookInput): PlannedHook {
  const { hook, env, sink, format } = input;
  const mechanism = MECHANISM_NAMES[input.mechanism];
  const key = `${format.subsystem}/${format.event}`;
  const args = hook.args.map((a): PlannedArg => {
    const field = input.fieldFor(a);
    if (typeof field === "string") {
      sink.error(a.at, field);
      return placeholderArg(a, "arg");
    }
    return planArg(a, "arg", {
      field,
      desc: `${key} field "${field.name}"`,
      userPointers: format.subsystem === "syscalls",
      mechanism,
    }, { args: hook.args, sink });
  });
  const selectors = planSelectors(
    input.selectors,
    { sink, facts: env.facts, args, mechanism, kprobe: false },
    { kind: "entry" },
    input.selectorIndexes,
  );
  const attach: AttachPoint = {
    kind: "tracepoint",
    subsystem: format.subsystem,
    event: format.event,
  };
  return finishHook(
    {
      name: input.name,
      source: input.source,
      mechanism: input.mechanism,
      attach,
      why: input.why,
      options: input.options,
      cost: input.cost,
      ...(input.rewrittenFrom === undefined ? {} : { rewrittenFrom: input.rewrittenFrom }),
      monitor: env.monitor,
      exit: false,
      retOffset: 0,
      recSize: recordSize(format, args),
      args,
      selectors,
      event: input.event,
    },
    sink,
  );
}

/** The format field `index` (Tetragon counts `common_*` fields too). */
export function fieldAt(format: TracepointFormat, arg: HookArg): TracepointField | string {
  const field = format.fields[arg.index];
  if (field !== undefined) return field;
  return `index ${arg.index} is out of range: ${format.subsystem}/${format.event} has ` +
    `${format.fields.length} fields (0..${format.fields.length - 1}, common_* included)`;
}
