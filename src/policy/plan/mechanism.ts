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
  const { feature, engine } = mechanismRow(mechanism);
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
  if (!(facts.engine ?? ENGINE_PROGRAMS).includes(engine)) {
    return {
      mechanism,
      usable: false,
      reason:
        `this kernel supports ${feature}, but vigil's policy engine has no ${engine} program yet`,
    };
  }
  if (extra !== undefined) return { mechanism, usable: false, reason: extra };
  return { mechanism, usable: true, reason: `${feature} works on this kernel` };
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
    return `no mechanism can run ${what} here: ${
      options.map((o) => `${o.mechanism}: ${o.reason}`).join("; ")
    }`;
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
