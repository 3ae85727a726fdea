/**
 * The typed, normalised TracingPolicy model that {@link parsePolicy} produces and a compiler
 * consumes. Everything here has been validated: aliases are resolved to one canonical spelling
 * (operators, arg types, actions, namespaces, capabilities), defaults are applied (Tetragon's CRD
 * defaults, such as `syscall: true` on kprobes), rate limits are in milliseconds, syscall names are
 * resolved to x86_64 numbers, and selector values are parsed per the type of the arg they filter.
 *
 * Every node that a later stage may want to report on carries `at`, its YAML path and position.
 *
 * @module
 */

import type { ArgType } from "../vocab/mod.ts";
import type { ArgOperator, BinaryOperator, SetOperator } from "../vocab/mod.ts";
import type { RateLimitScope } from "../vocab/mod.ts";
import type { CapabilityName, CapabilitySet } from "../vocab/mod.ts";
import type { NamespaceType } from "../vocab/mod.ts";
import type { IpPrefix } from "../vocab/mod.ts";
import type { SyscallRef } from "../vocab/mod.ts";

export type { ArgType } from "../vocab/mod.ts";
export type { ArgOperator, BinaryOperator, SetOperator } from "../vocab/mod.ts";
export type { ActionName, RateLimitScope } from "../vocab/mod.ts";
export type { CapabilityName, CapabilitySet } from "../vocab/mod.ts";
export type { NamespaceType } from "../vocab/mod.ts";
export type { IpPrefix } from "../vocab/mod.ts";
export type { SyscallRef } from "../vocab/mod.ts";

/** A problem found in a policy file: where it is and what is wrong. */
export interface PolicyIssue {
  /** The file name given to the parser. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** YAML path such as `spec.kprobes[0].selectors[1].matchArgs[0].operator` (empty for the root). */
  readonly path: string;
  /** What is wrong, naming the offending value where there is one. */
  readonly message: string;
}

/** Where a model node came from in its file (the file itself is {@link Policy.file}). */
export interface SourceRef {
  /** YAML path of the node, e.g. `spec.kprobes[0].selectors[1]`. */
  readonly path: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
}

/** The only `apiVersion` Tetragon (and vigil) accept. */
export const POLICY_API_VERSION = "cilium.io/v1alpha1";

/** `kind` of a policy: cluster scope, or namespaced (applies to pods of `metadata.namespace`). */
export type PolicyKind = "TracingPolicy" | "TracingPolicyNamespaced";

/** A validated policy: one per file. */
export interface Policy {
  /** Always {@link POLICY_API_VERSION}. */
  readonly apiVersion: typeof POLICY_API_VERSION;
  readonly kind: PolicyKind;
  /** `metadata.name`, a DNS subdomain. */
  readonly name: string;
  /** Where `metadata.name` is (for issues about the policy as a whole, e.g. a duplicate name). */
  readonly nameAt: SourceRef;
  /** `metadata.namespace`; set (and required) for `TracingPolicyNamespaced` only. */
  readonly namespace?: string;
  /** `metadata.labels`, empty when absent. */
  readonly labels: Readonly<Record<string, string>>;
  /** The file name given to the parser. */
  readonly file: string;
  readonly spec: PolicySpec;
}

/** `spec` of a policy, with every list present (empty when absent). */
export interface PolicySpec {
  readonly kprobes: readonly KprobeHook[];
  /** Tetragon 1.7 `fentries`: kprobe-shaped hooks attached with fentry. */
  readonly fentries: readonly KprobeHook[];
  readonly tracepoints: readonly TracepointHook[];
  readonly uprobes: readonly UprobeHook[];
  readonly lsmhooks: readonly LsmHook[];
  readonly lists: readonly PolicyList[];
  /** At most one entry (Tetragon's limit). */
  readonly enforcers: readonly Enforcer[];
  readonly options: PolicyOptions;
  /** `loader`: emit loader events. */
  readonly loader: boolean;
  readonly podSelector?: LabelSelector;
  /** Matches container fields; only the `name` key is supported (as in Tetragon). */
  readonly containerSelector?: LabelSelector;
  /** Tetragon 1.7 `hostSelector`: only `{}` (all hosts) is valid when present. */
  readonly hostSelector?: LabelSelector;
  /**
   * Valid Tetragon that vigil cannot run (usdts, CelExpr, 32-bit syscalls, ...): each makes the
   * policy "valid, not runnable" with this reason; the planner reports them.
   */
  readonly notRunnable: readonly PolicyIssue[];
}

/** Every kind of hook, discriminated by `kind`. */
export type Hook = KprobeHook | TracepointHook | UprobeHook | LsmHook;

/** Fields every hook has. */
export interface HookBase {
  readonly at: SourceRef;
  /** Arguments to read and export, in the order written (selector positions refer to it). */
  readonly args: readonly HookArg[];
  /** Event message, at most 256 bytes (longer ones are truncated with a warning). */
  readonly message?: string;
  /** At most 16 tags, each 2..128 bytes (longer ones are truncated with a warning). */
  readonly tags: readonly string[];
  /** At most 5; ORed with first-match short-circuit. None means post every call. */
  readonly selectors: readonly Selector[];
}

/** One function a kprobe/fentry hook attaches to, after `list:` expansion. */
export interface CallTarget {
  /** The name as written in `call` or in the list, e.g. `sys_openat` or `fd_install`. */
  readonly written: string;
  /** For syscall hooks: the resolved x86_64 syscall; absent when not in the syscall table. */
  readonly syscall?: SyscallRef;
}

/** A `kprobes[]` (or `fentries[]`) entry. */
export interface KprobeHook extends HookBase {
  readonly kind: "kprobe" | "fentry";
  /** `call` as written: a symbol or `list:NAME`. */
  readonly call: string;
  /** NAME when `call` is `list:NAME`. */
  readonly callList?: string;
  /**
   * The functions to attach to. Empty for a `generated_ftrace` list (resolved against
   * `available_filter_functions` at load time).
   */
  readonly targets: readonly CallTarget[];
  /** Effective syscall flag: CRD default `true`; forced `true` by a syscall list. */
  readonly syscall: boolean;
  /** `return`: also hook the function's return. */
  readonly return: boolean;
  /** The return value to export; required when `return` is true. */
  readonly returnArg?: HookArg;
  readonly returnArgAction?: "Post" | "TrackSock" | "UntrackSock";
  /** `data[]`: values read from `current_task` or `pt_regs` (args + data ≤ 5). */
  readonly data: readonly HookArg[];
  /** `ignore.callNotFound`. */
  readonly ignoreCallNotFound: boolean;
}

/** A `tracepoints[]` entry. */
export interface TracepointHook extends HookBase {
  readonly kind: "tracepoint";
  readonly subsystem: string;
  readonly event: string;
  /** Raw tracepoint: `args[].index` are `TP_PROTO` positions instead of `format` fields. */
  readonly raw: boolean;
}

/** A `uprobes[]` entry. */
export interface UprobeHook extends HookBase {
  readonly kind: "uprobe";
  readonly path: string;
  /** Exactly one of `symbols`, `offsets`, `addrs` is non-empty. */
  readonly symbols: readonly string[];
  readonly offsets: readonly bigint[];
  readonly addrs: readonly bigint[];
  readonly refCtrOffsets: readonly bigint[];
  readonly btfPath?: string;
  readonly data: readonly HookArg[];
  readonly return: boolean;
  readonly returnArg?: HookArg;
  readonly binaryDigests: readonly string[];
  readonly ignoreDigestVerificationFailure: boolean;
}

/** An `lsmhooks[]` entry. */
export interface LsmHook extends HookBase {
  readonly kind: "lsm";
  /** LSM hook name without the `security_` prefix, e.g. `file_open`. */
  readonly hook: string;
}

/** One entry of `args`, `data` or `returnArg`. */
export interface HookArg {
  readonly at: SourceRef;
  /** Function argument index (kprobes: 0..4), tracepoint `format` field index, or data slot. */
  readonly index: number;
  /** Canonical type; `auto` means "from BTF / the tracepoint format". */
  readonly type: ArgType;
  /** The type as written (before alias normalisation), `auto` when omitted. */
  readonly typeWritten: string;
  readonly label?: string;
  /** BTF path such as `mm.owner.real_parent.comm`. */
  readonly resolve?: string;
  readonly btfType?: string;
  readonly btfTypeModule?: string;
  /** 1-based index of the arg holding this buffer's size (Tetragon's convention); absent if 0. */
  readonly sizeArgIndex?: number;
  readonly returnCopy: boolean;
  readonly maxData: boolean;
  /** `data[]` only: where the value is read from. */
  readonly source?: "current_task" | "pt_regs";
}

/** One selector: all its filters must match (AND); its actions run when it is the first match. */
export interface Selector {
  readonly at: SourceRef;
  /** Tetragon 1.7 `label`. */
  readonly label?: string;
  readonly matchPIDs: readonly PidFilter[];
  readonly matchArgs: readonly ArgFilter[];
  readonly matchData: readonly ArgFilter[];
  readonly matchReturnArgs: readonly ArgFilter[];
  /** At most one entry per selector (Tetragon's limit). */
  readonly matchBinaries?: BinaryFilter;
  /** Tetragon 1.7: the parent's binary (at most one entry, as matchBinaries). */
  readonly matchParentBinaries?: BinaryFilter;
  readonly matchNamespaces: readonly NamespaceFilter[];
  /** At most one entry. */
  readonly matchNamespaceChanges?: NamespaceChangeFilter;
  readonly matchCapabilities: readonly CapabilityFilter[];
  readonly matchCapabilityChanges: readonly CapabilityFilter[];
  /** At most 3; none means `Post`. */
  readonly matchActions: readonly Action[];
  /** At most 3; run at return. */
  readonly matchReturnActions: readonly Action[];
}

/** A `matchArgs`, `matchData` or `matchReturnArgs` entry. */
export interface ArgFilter {
  readonly at: SourceRef;
  /** `index` as written (0 when omitted). */
  readonly index: number;
  /** `args` as written (positions into the hook's args), when given. */
  readonly args?: readonly number[];
  /**
   * Resolved position of the filtered value: into the hook's `args` (matchArgs), `data`
   * (matchData), or 0 for the return value (matchReturnArgs).
   */
  readonly argPos: number;
  /** Type of the filtered arg; `auto` when the hook leaves it to BTF or the tracepoint format. */
  readonly argType: ArgType;
  readonly operator: ArgOperator;
  /** `values` as written. */
  readonly values: readonly string[];
  /** `values` parsed for `operator` and `argType`. */
  readonly match: MatchValues;
}

/** Parsed selector values; the shape depends on the operator family. */
export type MatchValues =
  /** Equal/NotEqual on string-like args, Prefix/Postfix (and Not*), SubString(IgnCase). */
  | { readonly kind: "strings"; readonly values: readonly string[] }
  /** Equal/NotEqual/GT/LT/Mask on integer args (≤ 4 values). */
  | { readonly kind: "integers"; readonly values: readonly bigint[] }
  /** Equal/NotEqual/Mask on capability args: one bit mask per value (≤ 4 values). */
  | { readonly kind: "capabilities"; readonly masks: readonly bigint[] }
  /** InRange/NotInRange: inclusive ranges (≤ 4). */
  | { readonly kind: "ranges"; readonly ranges: readonly (readonly [bigint, bigint])[] }
  /** InMap/NotInMap: values, inclusive ranges and resolved syscall lists, all in one set. */
  | {
    readonly kind: "inMap";
    readonly values: readonly bigint[];
    readonly ranges: readonly (readonly [bigint, bigint])[];
    readonly lists: readonly { readonly name: string; readonly ids: readonly number[] }[];
  }
  /** [Not]SPort/[Not]DPort, Protocol, Family, State: a set of numbers as inclusive ranges. */
  | { readonly kind: "set"; readonly ranges: readonly (readonly [number, number])[] }
  /** [Not]SAddr/[Not]DAddr: addresses and CIDR prefixes. */
  | { readonly kind: "addresses"; readonly prefixes: readonly IpPrefix[] }
  /** FileType/NotFileType: `S_IF*` mode bits. */
  | { readonly kind: "fileTypes"; readonly modes: readonly number[] }
  /** [Not]SPortPriv/[Not]DPortPriv: no values. */
  | { readonly kind: "none" }
  /** CapabilitiesGained: compares the arg at `argPos` (new) with `secondArgPos` (old). */
  | { readonly kind: "capabilitiesGained"; readonly secondArgPos: number }
  /** Equal/NotEqual on an `auto` arg: checked against the real type when it is known. */
  | { readonly kind: "unresolved"; readonly values: readonly string[] };

/** The single `matchBinaries` entry of a selector. */
export interface BinaryFilter {
  readonly at: SourceRef;
  readonly operator: BinaryOperator;
  /** Exec paths (max 255 chars; Postfix max 127). */
  readonly values: readonly string[];
  /** Also match descendants forked after load (In/NotIn only). */
  readonly followChildren: boolean;
}

/** A `matchPIDs` entry. */
export interface PidFilter {
  readonly at: SourceRef;
  readonly operator: SetOperator;
  /** At most 4. */
  readonly values: readonly number[];
  readonly followForks: boolean;
  readonly isNamespacePID: boolean;
}

/** A `matchNamespaces` entry. */
export interface NamespaceFilter {
  readonly at: SourceRef;
  readonly namespace: NamespaceType;
  readonly operator: SetOperator;
  /** At most 4: inode numbers, or `host_ns` for the host's namespace of that type. */
  readonly values: readonly (number | "host_ns")[];
}

/** The `matchNamespaceChanges` entry. */
export interface NamespaceChangeFilter {
  readonly at: SourceRef;
  readonly operator: SetOperator;
  readonly namespaces: readonly NamespaceType[];
}

/** A `matchCapabilities` / `matchCapabilityChanges` entry. */
export interface CapabilityFilter {
  readonly at: SourceRef;
  /** Default `Effective`. */
  readonly type: CapabilitySet;
  readonly operator: SetOperator;
  readonly isNamespaceCapability: boolean;
  readonly values: readonly CapabilityName[];
  /** `values` as a bit mask (bit n = capability number n). */
  readonly mask: bigint;
}

/** Fields every action has. */
interface ActionBase {
  readonly at: SourceRef;
}

/** A `matchActions` / `matchReturnActions` entry, discriminated by `action`. */
export type Action =
  | (ActionBase & {
    readonly action: "Post";
    /** Minimum interval between identical events, in ms; absent when not rate limited. */
    readonly rateLimitMs?: number;
    /** Scope of the rate limit (default `thread`). */
    readonly rateLimitScope: RateLimitScope;
    readonly kernelStackTrace: boolean;
    readonly userStackTrace: boolean;
    readonly imaHash: boolean;
  })
  | (ActionBase & { readonly action: "NoPost" | "Sigkill" | "CleanupEnforcerNotification" })
  | (ActionBase & { readonly action: "Signal"; readonly argSig: number })
  | (ActionBase & {
    readonly action: "Override";
    /** Return value forced on the hooked function (e.g. -1 for EPERM). */
    readonly argError: number;
    /** uprobes only: register overrides such as `rax=1`. */
    readonly argRegs?: readonly string[];
  })
  | (ActionBase & { readonly action: "GetUrl"; readonly argUrl: string })
  | (ActionBase & { readonly action: "DnsLookup"; readonly argFqdn: string })
  | (ActionBase & { readonly action: "TrackSock" | "UntrackSock"; readonly argSock: number })
  | (ActionBase & {
    readonly action: "NotifyEnforcer";
    readonly argError?: number;
    readonly argSig?: number;
  });

/** The type of a `lists[]` entry; `none` when `type` is omitted. */
export type ListType = "syscalls" | "generated_syscalls" | "generated_ftrace" | "none";

/** A `lists[]` entry. */
export interface PolicyList {
  readonly at: SourceRef;
  readonly name: string;
  readonly type: ListType;
  /** Values as written (empty for generated lists). */
  readonly values: readonly string[];
  /** `generated_ftrace` only: regex over `available_filter_functions`. */
  readonly pattern?: string;
  /**
   * Syscall lists: the resolved x86_64 syscalls, in order (for `generated_syscalls`, every syscall
   * of the table).
   */
  readonly syscalls?: readonly SyscallRef[];
}

/** A `spec.enforcers[]` entry: syscalls where `NotifyEnforcer` is acted on. */
export interface Enforcer {
  readonly at: SourceRef;
  /** As written: syscall names or `list:NAME`. */
  readonly calls: readonly string[];
  /** Resolved syscalls (lists expanded). */
  readonly syscalls: readonly SyscallRef[];
}

/** `spec.options`, decoded. */
export interface PolicyOptions {
  /** `policy-mode`: `monitor` skips enforcing actions and counts them instead. Default `enforce`. */
  readonly policyMode: "enforce" | "monitor";
  readonly disableKprobeMulti: boolean;
  readonly disableUprobeMulti: boolean;
  /** `override-method`, as written, when given. */
  readonly overrideMethod?: string;
  /**
   * `vigil-cpu-budget` (vigil's own; Tetragon ignores options it does not know): this policy's
   * CPU budget as a fraction of one CPU, overriding `vigil run --policy-cpu-budget`.
   */
  readonly cpuBudget?: number;
  /** Every `{name, value}` pair as written, including ones vigil ignores. */
  readonly raw: readonly { readonly name: string; readonly value: string }[];
}

/** A Kubernetes label selector (`podSelector`, `containerSelector`, `hostSelector`). */
export interface LabelSelector {
  readonly at: SourceRef;
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelExpression[];
}

/** One `matchExpressions` entry. */
export interface LabelExpression {
  readonly key: string;
  readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  readonly values: readonly string[];
}
