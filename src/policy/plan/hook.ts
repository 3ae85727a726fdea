/**
 * Assembles {@link PlannedHook}s: the shared finishing step (set sizes, runnable) and the shape of
 * a hook no mechanism can run.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import type {
  PlanFacts,
  PlannedArg,
  PlannedEvent,
  PlannedHook,
  PlannedSelector,
  SetSizes,
} from "./types.ts";
import { ENUMS } from "../../bpf/abi.gen.ts";
import type { TracepointFormat } from "./tracepoint_format.ts";
import type { HookArg, Policy } from "../spec/mod.ts";
import { argJsonOf } from "./args.ts";
import type { IssueSink } from "./issues.ts";

/** What planning a hook needs from the policy and the kernel. */
export interface PlanEnv {
  readonly policy: Policy;
  readonly facts: PlanFacts;
  readonly monitor: boolean;
  /** Policy-level issues (e.g. a skipped call target, which has no hook to carry them). */
  readonly policySink: IssueSink;
}

/** Everything of a planned hook but what {@link finishHook} derives. */
export type HookParts = Omit<PlannedHook, "runnable" | "errors" | "warnings" | "sets">;

/** Map entries the selectors need. */
export function setSizes(selectors: readonly PlannedSelector[]): SetSizes {
  let sets = 0, str = 0, lpm = 0, int = 0;
  for (const s of selectors) {
    const all = [...s.argFilters.map((f) => f.set), s.binaries?.set];
    for (const set of all) {
      if (set === undefined) continue;
      sets++;
      if (set.kind === "str") str += set.values.length;
      else if (set.kind === "lpm" || set.kind === "cidr") lpm += set.values.length;
      else int += set.values.length;
    }
  }
  return { sets, str, lpm, int };
}

/** Sums set sizes. */
export function addSizes(a: SetSizes, b: SetSizes): SetSizes {
  return { sets: a.sets + b.sets, str: a.str + b.str, lpm: a.lpm + b.lpm, int: a.int + b.int };
}

/** The finished hook: its issues, set sizes and whether it can run. */
export function finishHook(parts: HookParts, sink: IssueSink): PlannedHook {
  return {
    ...parts,
    runnable: parts.mechanism !== null && sink.errors.length === 0,
    errors: sink.errors,
    warnings: sink.warnings,
    sets: setSizes(parts.selectors),
  };
}

/** The event description of a hook. */
export function eventOf(
  env: PlanEnv,
  hook: { readonly message?: string; readonly tags: readonly string[] },
  where:
    | { readonly kind: "process_kprobe" | "process_lsm" | "process_uprobe"; readonly fn: string }
    | { readonly kind: "process_tracepoint"; readonly subsys: string; readonly event: string },
  returnArg?: HookArg,
): PlannedEvent {
  return {
    kind: where.kind,
    ...(where.kind === "process_tracepoint"
      ? { subsys: where.subsys, event: where.event }
      : { functionName: where.fn }),
    policyName: env.policy.name,
    ...(hook.message === undefined ? {} : { message: hook.message }),
    tags: hook.tags,
    ...(returnArg === undefined ? {} : {
      returnArg: {
        json: argJsonOf(returnArg.type),
        type: returnArg.type,
        ...(returnArg.label === undefined ? {} : { label: returnArg.label }),
      },
    }),
  };
}

/** A hook that cannot run: no mechanism, with `why` as its error at the hook. */
export function failedHook(
  base: Pick<HookParts, "name" | "source" | "options" | "cost" | "event" | "monitor">,
  why: string,
  sink: IssueSink,
): PlannedHook {
  sink.error(base.source.at, why);
  return finishHook(
    {
      ...base,
      mechanism: null,
      attach: null,
      why,
      exit: false,
      retOffset: 0,
      recSize: 0,
      args: [],
      selectors: [],
    },
    sink,
  );
}

/**
 * Bytes of a tracepoint record to copy: up to the end of its fixed fields, plus room for each
 * `__data_loc` string (they follow the fixed fields) when an arg reads one.
 */
export function recordSize(format: TracepointFormat, args: readonly PlannedArg[]): number {
  let end = 0;
  let dataLocs = 0;
  for (const f of format.fields) {
    end = Math.max(end, f.offset + f.size);
    if (f.dataLoc) dataLocs++;
  }
  const readsDataLoc = args.some((a) => a.kind === "VIGIL_ARG_DATA_LOC");
  return end + (readsDataLoc ? dataLocs * ENUMS.vigil_policy_limits.VIGIL_STR_MAX : 0);
}
