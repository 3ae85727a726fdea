/**
 * Which mechanisms a hook could use on this kernel with this engine, cheapest first, and what each
 * costs. The kernel's answers come from the feature probe; the engine's from the program types
 * vigil's policy engine has.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import type { FeatureName } from "../../kernel/types.ts";
import {
  DEFAULT_ENGINE,
  type EngineMechanism,
  type HookCost,
  type Mechanism,
  type MechanismOption,
  type PlanFacts,
} from "./types.ts";

/** The kernel feature and engine program type each mechanism needs. */
const NEEDS: Readonly<Record<Mechanism, FeatureName | null>> = {
  fentry: "fentry",
  kprobe: "kprobe",
  syscall_tracepoint: "tracepoint",
  tracepoint: "tracepoint",
  raw_tracepoint: "raw_tp",
  lsm: "lsm",
  uprobe: null,
};

const ENGINE_OF: Readonly<Record<Mechanism, EngineMechanism | null>> = {
  fentry: "fentry",
  kprobe: "kprobe",
  syscall_tracepoint: "tracepoint",
  tracepoint: "tracepoint",
  raw_tracepoint: "raw_tp",
  lsm: "lsm",
  uprobe: null,
};

/** Human names of mechanisms, for sentences. */
export const MECHANISM_NAMES: Readonly<Record<Mechanism, string>> = {
  fentry: "fentry",
  kprobe: "kprobe",
  syscall_tracepoint: "the syscall tracepoint",
  tracepoint: "the tracepoint",
  raw_tracepoint: "the raw tracepoint",
  lsm: "the BPF LSM hook",
  uprobe: "the uprobe",
};

/**
 * Whether the kernel and the engine allow `mechanism`. `extra` adds a precondition of the hook
 * (e.g. the tracepoint exists): a string is why it does not hold.
 */
export function option(
  facts: PlanFacts,
  mechanism: Mechanism,
  extra?: string,
): MechanismOption {
  const feature = NEEDS[mechanism];
  const engine = ENGINE_OF[mechanism];
  if (feature === null || engine === null) {
    return { mechanism, usable: false, reason: "vigil's policy engine has no uprobe program yet" };
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
  if (!(facts.engine ?? DEFAULT_ENGINE).includes(engine)) {
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

/** Cost of a function hook (fentry, kprobe, LSM). */
export function functionCost(mechanism: Mechanism, fn: string): HookCost {
  if (mechanism === "lsm") {
    return { class: "per-call", note: `runs on each call of the LSM hook ${fn}` };
  }
  return {
    class: "per-call",
    note: mechanism === "fentry"
      ? `runs only when ${fn} is called, through a BPF trampoline; no syscall slow path`
      : `runs only when ${fn} is called, through a kprobe; no syscall slow path`,
  };
}

/** Cost of a syscall's own tracepoint. */
export function syscallTracepointCost(syscall: string): HookCost {
  return {
    class: "syscall-slow-path",
    note: `while any syscall tracepoint is attached, every syscall of every task takes the ` +
      `kernel's slow tracing path; the program itself runs only on ${syscall}`,
  };
}

/** Cost of the raw_syscalls tracepoints. */
export const RAW_SYSCALLS_COST: HookCost = {
  class: "every-syscall",
  note: "raw_syscalls: the program runs on every syscall of every task, besides the slow " +
    "tracing path (the field's 400%-CPU pattern)",
};

/** Cost of a classic tracepoint outside the syscall ones. */
export function tracepointCost(subsystem: string, event: string): HookCost {
  if (subsystem === "raw_syscalls") return RAW_SYSCALLS_COST;
  if (subsystem === "syscalls") {
    return syscallTracepointCost(event.replace(/^sys_(enter|exit)_/, ""));
  }
  if (subsystem === "sched" && event.startsWith("sched_process_")) {
    return {
      class: "negligible",
      note: `${subsystem}/${event} fires once per process lifecycle step; a sched tracepoint ` +
        `adds nothing measurable`,
    };
  }
  return {
    class: "per-event",
    note: `runs on each ${subsystem}/${event} event: the cost follows that event's rate`,
  };
}
