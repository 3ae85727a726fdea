/**
 * What each mechanism costs the host, in one class and one sentence: the table's cost column.
 *
 * @module
 */

import type { HookCost } from "./types.ts";

/** Cost of a hook on a kernel function (fentry, kprobe). */
export function functionCost(via: "fentry" | "kprobe", fn: string): HookCost {
  return {
    class: "per-call",
    note: via === "fentry"
      ? `runs only when ${fn} is called, through a BPF trampoline; no syscall slow path`
      : `runs only when ${fn} is called, through a kprobe; no syscall slow path`,
  };
}

/** Cost of a BPF LSM hook. */
export function lsmCost(fn: string): HookCost {
  return { class: "per-call", note: `runs on each call of the LSM hook ${fn}` };
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

/** Cost of a classic tracepoint, `subsystem/event`. */
export function tracepointCost(tracepoint: string): HookCost {
  const [subsystem = "", event = ""] = tracepoint.split("/", 2);
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

/** Cost of a uprobe. */
export function uprobeCost(symbol: string): HookCost {
  return { class: "per-call", note: `runs on each call of ${symbol}, through a uprobe trap` };
}
