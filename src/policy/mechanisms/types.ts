/**
 * The shape of one row of the hook mechanism table: what a mechanism needs from the kernel, which
 * engine program runs it, how that program is prepared and attached, and what it costs.
 *
 * @module
 */

import type { BpfObject } from "../../bpf/object.ts";
import type { FeatureName } from "../../kernel/types.ts";

/**
 * How a hook is attached:
 * - `fentry`: BPF trampoline on the function (fexit for `return: true`);
 * - `kprobe`: kprobe (kretprobe for `return: true`);
 * - `kprobe_multi`: one kprobe_multi link (fprobe) for all the functions of a long `call` list;
 * - `syscall_tracepoint`: the syscall's own `syscalls/sys_{enter,exit}_<name>` tracepoint;
 * - `tracepoint`: any other classic tracepoint (including `raw_syscalls/*` kept as written);
 * - `raw_tracepoint`: a `raw: true` tracepoint;
 * - `lsm`: BPF LSM hook; `uprobe`: user-space probe.
 */
export type Mechanism =
  | "fentry"
  | "kprobe"
  | "kprobe_multi"
  | "syscall_tracepoint"
  | "tracepoint"
  | "raw_tracepoint"
  | "lsm"
  | "uprobe";

/** Program types vigil's policy engine may have (named by the kernel feature that gates each). */
export type EngineMechanism = "tracepoint" | "raw_tp" | "kprobe" | "fentry" | "lsm";

/** Cost of a hook, from cheapest to the field's 400%-CPU pattern. */
export type CostClass =
  | "negligible"
  | "per-event"
  | "per-call"
  | "syscall-slow-path"
  | "every-syscall";

/** The cost class of a hook and one sentence on what it costs. */
export interface HookCost {
  readonly class: CostClass;
  readonly note: string;
}

/** Where a planned hook attaches. */
export type AttachPoint =
  | { readonly kind: "tracepoint"; readonly subsystem: string; readonly event: string }
  | { readonly kind: "raw_tracepoint"; readonly event: string }
  | {
    /** fmod_ret: a trampoline whose return value can replace the function's (Override). */
    readonly kind: "fentry" | "fexit" | "fmod_ret" | "kprobe" | "kretprobe";
    readonly function: string;
  }
  | {
    /**
     * One function of a kprobe_multi group: every hook of one planned list shares `functions`
     * (the same array), the group's one link.
     */
    readonly kind: "kprobe_multi";
    readonly function: string;
    readonly functions: readonly string[];
  }
  | { readonly kind: "lsm"; readonly hook: string }
  | { readonly kind: "uprobe"; readonly path: string; readonly symbol: string };

/** Which program of an entry object runs a hook, and what it is bound to before load. */
export interface ProgramChoice {
  readonly program: string;
  /** The kernel function or LSM hook the program is bound to before load (fentry, fexit, LSM). */
  readonly target?: string;
  /** fexit: the function whose argument count says where the return value is. */
  readonly returnOf?: string;
  /** Programs of the same object loaded (and attached) with it: a kretprobe's entry half. */
  readonly companions?: readonly string[];
}

/** What attaching a program at one point made: one link, or a program's links there. */
export interface Attachment {
  close(): void;
}

/**
 * The engine's program for a mechanism: a thin entry in `bpf/policy_<mechanism>.bpf.c` over the
 * shared selector engine (`bpf/lib/policy.h`). Every loaded copy shares the engine's maps.
 */
export interface EntryProgram {
  /** The compiled object, e.g. `policy_tracepoint.bpf.o`. */
  readonly object: string;
  /** The object's programs (their names in `bpftool prog` and the metrics). */
  readonly names: readonly string[];
  /** Something the host must provide before the first attach (classic tracepoints: tracefs). */
  readonly needs?: "tracefs";
  /**
   * `shared`: one loaded program serves every attach point, attached once per point with the
   * point's attach slot as its cookie (tracepoints, kprobes); the kernel attaches a program once
   * per tracepoint, so a point whose slot is full takes another loaded copy. `per-target`: the
   * program is bound to its target before load (fentry, fexit, LSM), one copy per target with its
   * slot in .rodata. Either way every hook at one point runs in the same attached program.
   */
  readonly copies: "shared" | "per-target";
  /** Which program runs a hook at `at`. */
  select(at: AttachPoint): ProgramChoice;
  /** The attach point: hooks with equal keys (and programs) share one attachment. */
  attachKey(at: AttachPoint): string;
  /** Attaches a loaded copy's `program` at `at`; the cookie is the point's attach slot. */
  attach(object: BpfObject, program: string, at: AttachPoint, cookie: bigint): Attachment;
}

/** One row of the hook mechanism table. */
export interface HookMechanism {
  readonly mechanism: Mechanism;
  /** How sentences name it: `fentry`, `the syscall tracepoint`. */
  readonly label: string;
  /** The kernel feature it needs (`vigil probe` names), or null when no probe covers it. */
  readonly feature: FeatureName | null;
  /** The engine program type that runs it, or null when the engine cannot express it at all. */
  readonly engine: EngineMechanism | null;
  /** The program, or null: vigil's engine has none yet. */
  readonly program: EntryProgram | null;
  /**
   * Kernel helpers the engine's program for this mechanism calls beyond the attach itself (the
   * selector library's bpf_loop callbacks): the kernel refuses the whole object without them.
   */
  readonly engineNeeds: readonly FeatureName[];
  /** What a hook on `target` (a function, `subsystem/event`, or a syscall name) costs. */
  cost(target: string): HookCost;
}
