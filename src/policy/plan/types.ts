/**
 * The shape of a policy plan: for each hook of a validated {@link Policy}, the mechanism chosen on
 * one kernel and why, its cost class, and everything the compiler needs to encode one
 * `struct vigil_hook` (args with record offsets, selectors with their match values and sets,
 * actions). Enum-valued fields hold the names of the generated ABI enums (`VIGIL_ARG_STRING`,
 * `VIGIL_MATCH_PREFIX`, ...), so a renamed or removed ABI value breaks the type check, never the
 * kernel.
 *
 * @module
 */

import type { ENUMS } from "../../bpf/abi.gen.ts";
import type { FeatureName } from "../../kernel/types.ts";
import type { TracepointFormatLookup } from "./tracepoint_format.ts";
import type { ArgType, IpPrefix, NamespaceType, PolicyIssue, SourceRef } from "../spec/mod.ts";

type Abi = typeof ENUMS;
/** `enum vigil_arg_kind` value names. */
export type ArgKind = keyof Abi["vigil_arg_kind"];
/** `enum vigil_match_op` value names. */
export type MatchOp = keyof Abi["vigil_match_op"];
/** `enum vigil_set_op` value names. */
export type SetOp = keyof Abi["vigil_set_op"];
/** `enum vigil_action_kind` value names. */
export type ActionKind = keyof Abi["vigil_action_kind"];
/** `enum vigil_rate_scope` value names. */
export type RateScope = keyof Abi["vigil_rate_scope"];
/** `enum vigil_ns_kind` value names. */
export type NsKind = keyof Abi["vigil_ns_kind"];
/** `enum vigil_cap_set` value names. */
export type CapSet = keyof Abi["vigil_cap_set"];

export type { EngineMechanism, Mechanism } from "../mechanisms/mod.ts";
import type { EngineMechanism, Mechanism } from "../mechanisms/mod.ts";

/** A kernel feature's answer, as `probeKernel` gives it. */
export interface FeatureFact {
  /** true: works here; false: refused (see reason); null: inconclusive. */
  readonly supported: boolean | null;
  readonly reason: string;
}

/** Everything {@link planPolicy} knows about the kernel; all of it injectable. */
export interface PlanFacts {
  /** Kernel features by name (a missing one counts as not probed, hence not usable). */
  readonly features: Readonly<Partial<Record<FeatureName, FeatureFact>>>;
  /** Tracepoint formats of this kernel. */
  readonly tracepointFormat: TracepointFormatLookup;
  /**
   * Whether the kernel's BTF has function `name` (a trampoline, fentry/fexit/LSM, needs its
   * prototype). Absent: not checked (the attach will say).
   */
  readonly functionInBtf?: (name: string) => boolean;
  /** Program types the policy engine has; default: the mechanism table's programs. */
  readonly engine?: readonly EngineMechanism[];
  /**
   * The host's namespace inode per type (from `/proc/1/ns/*`), for `matchNamespaces` values
   * `host_ns`. A type missing here makes `host_ns` of that type an error.
   */
  readonly hostNamespaces?: Readonly<Partial<Record<NamespaceType, number>>>;
  /** Why {@link PlanFacts.hostNamespaces} is incomplete, quoted in errors. */
  readonly hostNamespacesError?: string;
  /**
   * The kernel's syscalls, for `generated_syscalls` lists. Absent: not read (the lists keep
   * vigil's table of x86_64 syscalls).
   */
  readonly kernelSyscalls?: KernelSyscalls;
  /** `available_filter_functions` by pattern, for `generated_ftrace` lists. Absent: not read. */
  readonly ftrace?: FtraceLookup;
}

export type { CostClass, HookCost } from "../mechanisms/mod.ts";
import type { FtraceLookup, KernelSyscalls } from "./kernel_functions.ts";
import type { HookCost } from "../mechanisms/mod.ts";

/** One mechanism considered for a hook. */
export interface MechanismOption {
  readonly mechanism: Mechanism;
  readonly usable: boolean;
  /** Why it is (not) usable: the kernel probe's reason, the engine's limit, a missing tracepoint. */
  readonly reason: string;
}

export type { AttachPoint } from "../mechanisms/mod.ts";
import type { AttachPoint } from "../mechanisms/mod.ts";

import type { KernelArgJson } from "./args_kernel.ts";
export type { KernelArgJson } from "./args_kernel.ts";

/** Which Tetragon JSON argument object a value is exported as. */
export type ArgJson =
  | "int_arg"
  | "uint_arg"
  | "long_arg"
  | "size_arg"
  | "string_arg"
  | "bytes_arg"
  | "file_arg"
  | "path_arg"
  | "linux_binprm_arg"
  | "sockaddr_arg"
  | "syscall_id"
  | KernelArgJson
  | "none";

/** One value a hook reads: from where in the context, how, and how it is exported. */
export interface PlannedArg {
  readonly at: SourceRef;
  /** `arg`: one of the hook's args; `return`: the return value (exit hooks). */
  readonly role: "arg" | "return";
  readonly label?: string;
  /** Effective Tetragon type (`auto` resolved from the tracepoint format). */
  readonly type: ArgType;
  readonly kind: ArgKind;
  /**
   * Byte offset in the tracepoint record; for fentry/kprobe/lsm/raw tracepoints, 8 × the
   * function argument index (for syscalls, of the syscall, not of its `pt_regs` wrapper).
   */
  readonly ctxOffset: number;
  /** Bytes read at `ctxOffset`: 1, 2, 4 or 8. */
  readonly size: number;
  /** `VIGIL_ARG_BUF`: position of the arg holding the size, plus one; else 0. */
  readonly sizeArg: number;
  /** The tracepoint format field read, when there is one. */
  readonly field?: string;
  readonly json: ArgJson;
}

/** A set of match values stored in a map, with a set id allocated at compile time. */
export type PlannedSet =
  /** Hash of `struct vigil_str_key` (exact strings). */
  | { readonly kind: "str"; readonly values: readonly string[] }
  /** LPM trie of `struct vigil_lpm_key`; `reversed` for Postfix (the string stored reversed). */
  | { readonly kind: "lpm"; readonly reversed: boolean; readonly values: readonly string[] }
  /** Hash of `struct vigil_int_key`; values as the kernel compares them (u64, two's complement). */
  | { readonly kind: "int"; readonly values: readonly bigint[] }
  /** LPM trie of `struct vigil_lpm_key` over (family byte, address): SAddr/DAddr prefixes. */
  | { readonly kind: "cidr"; readonly values: readonly IpPrefix[] };

/** One `struct vigil_arg_filter`. */
export interface PlannedArgFilter {
  readonly at: SourceRef;
  /** Position in the hook's args. */
  readonly arg: number;
  readonly op: MatchOp;
  /**
   * Inline values as u64 (two's complement). Range operators (`VIGIL_MATCH_IN_RANGE`,
   * `VIGIL_MATCH_NOT_IN_RANGE`, `VIGIL_MATCH_DPORT`, `VIGIL_MATCH_NOT_DPORT`) store inclusive
   * (lo, hi) pairs: `values[2i]`, `values[2i+1]`.
   */
  readonly values: readonly bigint[];
  /** Inline u64 entries used (`values.length`: twice the pairs of a range); 0 with a set. */
  readonly nvalues: number;
  readonly set?: PlannedSet;
}

/** One `matchPIDs` entry (`struct vigil_pid_filter`); a selector's entries are ANDed. */
export interface PlannedPids {
  readonly op: "VIGIL_SET_IN" | "VIGIL_SET_NOT_IN";
  readonly values: readonly number[];
  /** `isNamespacePID`: compare the pid as seen in the task's own pid namespace. */
  readonly namespacePid: boolean;
  /** `followForks`: the caller's ancestors' pids count too. */
  readonly follow: boolean;
}

/**
 * `matchBinaries` or `matchParentBinaries` of a selector: exec paths in a string (In/NotIn) or
 * LPM (Prefix/Postfix) set.
 */
export interface PlannedBinaries {
  readonly op: SetOp;
  readonly set: PlannedSet;
  /** `followChildren`: the binaries of the process's ancestors count too. */
  readonly follow: boolean;
}

/** One `struct vigil_ns_filter`. */
export interface PlannedNamespace {
  readonly ns: NsKind;
  readonly op: "VIGIL_SET_IN" | "VIGIL_SET_NOT_IN";
  /** Namespace inode numbers (`host_ns` resolved). */
  readonly values: readonly number[];
}

/** One `struct vigil_cap_filter`. */
export interface PlannedCapability {
  readonly set: CapSet;
  /** In: the task has any capability of `mask`; NotIn: none of them. */
  readonly op: "VIGIL_SET_IN" | "VIGIL_SET_NOT_IN";
  readonly mask: bigint;
  /** `isNamespaceCapability`: the filter fails for a task in the initial user namespace. */
  readonly namespaced: boolean;
}

/** One `struct vigil_action`. */
export interface PlannedAction {
  readonly at: SourceRef;
  readonly kind: ActionKind;
  readonly scope: RateScope;
  /** Signal number for SIGKILL (9) and SIGNAL; 0 otherwise. */
  readonly signal: number;
  /** Post: minimum ns between identical events; 0 means no rate limit. */
  readonly rateLimitNs: bigint;
  /** Override: the value the hooked call returns (a negative errno); absent otherwise. */
  readonly error?: number;
}

/** One `struct vigil_selector`. */
export interface PlannedSelector {
  readonly at: SourceRef;
  /** Position of the selector in the hook as written. */
  readonly index: number;
  readonly argFilters: readonly PlannedArgFilter[];
  /** `matchPIDs` entries, ANDed. */
  readonly pids: readonly PlannedPids[];
  readonly binaries?: PlannedBinaries;
  /** `matchParentBinaries`: the binary of the caller's parent. */
  readonly parentBinaries?: PlannedBinaries;
  readonly namespaces: readonly PlannedNamespace[];
  readonly capabilities: readonly PlannedCapability[];
  /** At least one: an empty `matchActions` is planned as one Post, Tetragon's default. */
  readonly actions: readonly PlannedAction[];
}

/** How events of a hook are exported. */
export interface PlannedEvent {
  readonly kind: "process_kprobe" | "process_tracepoint" | "process_lsm" | "process_uprobe";
  /** `process_kprobe`/`process_lsm`: e.g. `__x64_sys_unlinkat`, `fd_install`, `file_open`. */
  readonly functionName?: string;
  /** `process_tracepoint`: as written in the policy (a rewritten raw_syscalls hook keeps it). */
  readonly subsys?: string;
  readonly event?: string;
  readonly policyName: string;
  readonly message?: string;
  readonly tags: readonly string[];
  /** The `return` object of exit hooks. */
  readonly returnArg?: { readonly json: ArgJson; readonly type: ArgType; readonly label?: string };
}

/** How many map entries a hook (or a policy) needs. */
export interface SetSizes {
  /** Filters with a set (each gets its own set id). */
  readonly sets: number;
  /** Entries of the string hash (`vigil_str_key`). */
  readonly str: number;
  /** Entries of the LPM trie (`vigil_lpm_key`). */
  readonly lpm: number;
  /** Entries of the integer hash (`vigil_int_key`). */
  readonly int: number;
}

/** Where a planned hook comes from in the policy. */
export interface HookSource {
  readonly list: "kprobes" | "fentries" | "tracepoints" | "lsmhooks" | "uprobes";
  /** Index in that list. */
  readonly index: number;
  readonly at: SourceRef;
  /** The call target of a kprobe (one per `list:` entry). */
  readonly target?: string;
  /** `entry`, or `exit` for the return half of a `return: true` syscall on tracepoints. */
  readonly role: "entry" | "exit";
}

/** One attachable hook: what compiles into one `struct vigil_hook`. */
export interface PlannedHook {
  /** Display label, e.g. `kprobes[0] sys_unlinkat` or `tracepoints[0] sched/sched_process_exec`. */
  readonly name: string;
  readonly source: HookSource;
  /** null when no mechanism can run the hook here (see `errors`). */
  readonly mechanism: Mechanism | null;
  readonly attach: AttachPoint | null;
  /** Why this mechanism (or why none). */
  readonly why: string;
  /** Every mechanism considered, cheapest first. */
  readonly options: readonly MechanismOption[];
  readonly cost: HookCost;
  /** Set when a `raw_syscalls` hook was split: the tracepoint it was written on. */
  readonly rewrittenFrom?: string;
  /** No errors: it can be compiled and attached. */
  readonly runnable: boolean;
  readonly errors: readonly PolicyIssue[];
  readonly warnings: readonly PolicyIssue[];
  /** `policy-mode: monitor`. */
  readonly monitor: boolean;
  /** Syscall exit: the return value is at `retOffset` of the record. */
  readonly exit: boolean;
  /**
   * A function hook on a syscall's wrapper (`__x64_sys_*`): the program reads the syscall's
   * arguments from the pt_regs the wrapper gets.
   */
  readonly syscall?: boolean;
  readonly retOffset: number;
  /**
   * Bytes of the tracepoint record the program copies before reading args: the fixed fields, plus
   * room for `__data_loc` strings when an arg reads one; 0 for the engine's default.
   */
  readonly recSize: number;
  readonly args: readonly PlannedArg[];
  readonly selectors: readonly PlannedSelector[];
  readonly sets: SetSizes;
  readonly event: PlannedEvent;
}

/** The plan of one policy on one kernel. */
export interface PolicyPlan {
  readonly policyName: string;
  readonly file: string;
  readonly mode: "enforce" | "monitor";
  /** Every hook can run here. */
  readonly runnable: boolean;
  /** Why not, when not runnable: the first error, and how many more. */
  readonly reason?: string;
  readonly hooks: readonly PlannedHook[];
  /** Policy-level and hook errors (each hook's are also on the hook). */
  readonly errors: readonly PolicyIssue[];
  readonly warnings: readonly PolicyIssue[];
  /** Totals over the runnable hooks. */
  readonly sets: SetSizes;
  /** The engine the plan was made for. */
  readonly engine: readonly EngineMechanism[];
}
