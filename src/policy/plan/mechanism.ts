/**
 * Which mechanisms a hook could use on this kernel with this engine, cheapest first, and what each
 * costs. The kernel's answers come from the feature probe; the engine's from the program types
 * vigil's policy engine has.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { ENGINE_PROGRAMS, mechanismRow, MECHANISMS } from "../mechanisms/mod.ts";
import { featureRow } from "../../kernel/features_table.ts";
import type { FeatureName } from "../../kernel/types.ts";
import type { HookCost, Mechanism, MechanismOption, PlanFacts } from "./types.ts";

/** Human names of mechanisms, for sentences (the table's labels). */
export const MECHANISM_NAMES: Readonly<Record<Mechanism, string>> = Object.fromEntries(
  [...MECHANISMS.values()].map((row) => [row.mechanism, row.label]),
) as Record<Mechanism, string>;

/**
 * Whether the kernel and the engine allow `mechanism`. `extra` adds a precondition of the hook
 * (e.g. the tracepoint exists): a string is why it does not hold.
 */
export function option(
  facts: PlanFacts,
  mechanism: Mechanism,
  extra?: string,
): MechanismOption {
  const { feature, engine, engineNeeds } = mechanismRow(mechanism);
  if (feature === null || engine === null) {
    return {
      mechanism,
      usable: false,
      reason: `vigil's policy engine has no ${mechanism} program yet`,
    };
  }
  const fact = facts.features[feature];
  if (fact === undefined) {
    return { mechanism, usable: false, reason: `${feature} was not probed` };
  }
  if (fact.supported !== true) {
    return {
      mechanism,
      usable: false,
      reason: fact.supported === false
        ? `this kernel refuses ${feature}: ${fact.reason}`
        : `the ${feature} probe was inconclusive: ${fact.reason}`,
    };
  }
  if (!ENGINE_PROGRAMS.includes(engine)) {
    return {
      mechanism,
      usable: false,
      reason:
        `this kernel supports ${feature}, but vigil's policy engine has no ${engine} program yet`,
    };
  }
  if (facts.engine !== undefined && !facts.engine.includes(engine)) {
    return {
      mechanism,
      usable: false,
      reason: `this kernel supports ${feature}, but --policy-mechanisms leaves ${engine} out ` +
        `(allowed: ${facts.engine.join(",") || "none"})`,
    };
  }
  const missing = missingEngineNeed(facts, engineNeeds);
  if (missing !== undefined) {
    return {
      mechanism,
      usable: false,
      reason: `this kernel supports ${feature}, but vigil's policy engine needs ${missing}`,
    };
  }
  if (extra !== undefined) return { mechanism, usable: false, reason: extra };
  return { mechanism, usable: true, reason: `${feature} works on this kernel` };
}

/**
 * The first helper the engine program needs that this kernel lacks, as a clause naming it, the
 * release that brought it and the probe's answer; undefined when all are there.
 */
function missingEngineNeed(
  facts: PlanFacts,
  needs: readonly FeatureName[],
): string | undefined {
  for (const need of needs) {
    const fact = facts.features[need];
    if (fact?.supported === true) continue;
    const since = `${need} (Linux ${featureRow(need).minKernel}+)`;
    if (fact === undefined) return `${since}, which was not probed`;
    return fact.supported === false
      ? `${since}, which this kernel refuses: ${fact.reason}`
      : `${since}, and its probe was inconclusive: ${fact.reason}`;
  }
  return undefined;
}

const ENGINE_NEED = /^this kernel supports (\w+), but (vigil's policy engine needs .*)$/;

/**
 * Why none of `options` can run a hook: each option's reason, or, when they all fail on the same
 * missing engine helper, that helper once (it is the one thing to fix).
 */
export function refusedOptions(options: readonly MechanismOption[]): string {
  const needs = options.map((o) => ENGINE_NEED.exec(o.reason));
  const first = needs[0]?.[2];
  if (first !== undefined && needs.every((m) => m?.[2] === first)) {
    return `${first} (this kernel supports ${options.map((o) => o.mechanism).join(", ")}, ` +
      "which would run it otherwise)";
  }
  return options.map((o) => `${o.mechanism}: ${o.reason}`).join("; ");
}

/**
 * One sentence on why the first usable option won (or why nothing could): `what` names the hook
 * (`the syscall openat`), `chosenDesc` what the winner attaches to (`its own tracepoint
 * syscalls/sys_enter_openat`). The refused options' reasons are in the options themselves.
 */
export function explainChoice(
  options: readonly MechanismOption[],
  what: string,
  chosenDesc?: string,
): string {
  const chosen = options.find((o) => o.usable);
  if (chosen === undefined) {
    return `no mechanism can run ${what} here: ${refusedOptions(options)}`;
  }
  const used = chosenDesc === undefined ? chosen.mechanism : `${chosen.mechanism} (${chosenDesc})`;
  const before = options.slice(0, options.indexOf(chosen)).map((o) => o.mechanism);
  if (before.length === 0) return `${used}: the cheapest mechanism for ${what}, and it works here`;
  return `${before.join(" and ")} ${before.length > 1 ? "are" : "is"} not usable on this kernel, ` +
    `so ${what} uses the cheapest mechanism left: ${used}`;
}

/** Cost of a function hook (fentry, kprobe, LSM): the table's cost column. */
export function functionCost(mechanism: "fentry" | "kprobe" | "lsm", fn: string): HookCost {
  return mechanismRow(mechanism).cost(fn);
}

/** Cost of a syscall's own tracepoint. */
export function syscallTracepointCost(syscall: string): HookCost {
  return mechanismRow("syscall_tracepoint").cost(syscall);
}

/** Cost of a classic tracepoint outside the syscall ones. */
export function tracepointCost(subsystem: string, event: string): HookCost {
  return mechanismRow("tracepoint").cost(`${subsystem}/${event}`);
}
