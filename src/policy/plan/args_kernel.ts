/**
 * Kernel-object args of kernel-function hooks (kprobe, fentry, LSM) that the engine reads through
 * BTF (`bpf/lib/args_net.h`, `bpf/lib/args_kernel.h`): sock, socket, skb, sockaddr, net_device,
 * cred, user_namespace, capability, kernel_cap_t and the cap_* sets, bpf_attr, bpf_prog, bpf_map,
 * perf_event, module and load_info. Here: how each is read and exported, and the network
 * operators on them (ports, CIDR prefixes of either family, protocol, family, TCP state).
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { STRUCTS } from "../../bpf/abi.gen.ts";
import type { ArgKind, MatchOp, PlannedArg, PlannedArgFilter } from "./types.ts";
import type { ArgFilter, ArgOperator, ArgType, IpPrefix } from "../spec/mod.ts";
import type { IssueSink } from "./issues.ts";

/** Tetragon's JSON argument objects of these kinds. */
export type KernelArgJson =
  | "sock_arg"
  | "skb_arg"
  | "net_dev_arg"
  | "process_credentials_arg"
  | "user_ns_arg"
  | "capability_arg"
  | "kernel_cap_t_arg"
  | "cap_inheritable_arg"
  | "cap_permitted_arg"
  | "cap_effective_arg"
  | "bpf_attr_arg"
  | "bpf_map_arg"
  | "perf_event_arg"
  | "module_arg";

/** How one kernel-object arg is read (always from an 8-byte function-argument slot). */
export interface KernelRead {
  readonly kind: ArgKind;
  readonly size: number;
  readonly json: KernelArgJson | "sockaddr_arg";
}

const READS: Readonly<Partial<Record<ArgType, KernelRead>>> = {
  sock: { kind: "VIGIL_ARG_SOCK", size: 8, json: "sock_arg" },
  socket: { kind: "VIGIL_ARG_SOCKET", size: 8, json: "sock_arg" },
  skb: { kind: "VIGIL_ARG_SKB", size: 8, json: "skb_arg" },
  sockaddr: { kind: "VIGIL_ARG_KSOCKADDR", size: 8, json: "sockaddr_arg" },
  net_device: { kind: "VIGIL_ARG_NET_DEVICE", size: 8, json: "net_dev_arg" },
  cred: { kind: "VIGIL_ARG_CRED", size: 8, json: "process_credentials_arg" },
  user_namespace: { kind: "VIGIL_ARG_USER_NS", size: 8, json: "user_ns_arg" },
  // A capability number is an int argument (cap_capable's `cap`).
  capability: { kind: "VIGIL_ARG_INT", size: 4, json: "capability_arg" },
  kernel_cap_t: { kind: "VIGIL_ARG_CAP_SET", size: 8, json: "kernel_cap_t_arg" },
  cap_inheritable: { kind: "VIGIL_ARG_CAP_SET", size: 8, json: "cap_inheritable_arg" },
  cap_permitted: { kind: "VIGIL_ARG_CAP_SET", size: 8, json: "cap_permitted_arg" },
  cap_effective: { kind: "VIGIL_ARG_CAP_SET", size: 8, json: "cap_effective_arg" },
  bpf_attr: { kind: "VIGIL_ARG_BPF_ATTR", size: 8, json: "bpf_attr_arg" },
  bpf_prog: { kind: "VIGIL_ARG_BPF_PROG", size: 8, json: "bpf_attr_arg" },
  bpf_map: { kind: "VIGIL_ARG_BPF_MAP", size: 8, json: "bpf_map_arg" },
  perf_event: { kind: "VIGIL_ARG_PERF_EVENT", size: 8, json: "perf_event_arg" },
  module: { kind: "VIGIL_ARG_MODULE", size: 8, json: "module_arg" },
  load_info: { kind: "VIGIL_ARG_LOAD_INFO", size: 8, json: "module_arg" },
};

/**
 * How the engine reads a kernel-object arg of a kernel function; `undefined` for other types.
 *
 * @example
 * ```ts
 * kernelArgRead("sock"); // { kind: "VIGIL_ARG_SOCK", size: 8, json: "sock_arg" }
 * kernelArgRead("file"); // undefined
 * ```
 */
export function kernelArgRead(type: ArgType): KernelRead | undefined {
  return READS[type];
}

const NET_KINDS = new Set<ArgKind>(["VIGIL_ARG_SOCK", "VIGIL_ARG_SOCKET", "VIGIL_ARG_SKB"]);

/** Whether an arg kind holds a `struct vigil_net_arg` (the network operators apply). */
export function isNetKind(kind: ArgKind): boolean {
  return NET_KINDS.has(kind);
}

const NET_OPS: Partial<Record<ArgOperator, MatchOp>> = {
  SPort: "VIGIL_MATCH_SPORT",
  NotSPort: "VIGIL_MATCH_NOT_SPORT",
  SPortPriv: "VIGIL_MATCH_SPORT_PRIV",
  NotSPortPriv: "VIGIL_MATCH_NOT_SPORT_PRIV",
  DPort: "VIGIL_MATCH_DPORT",
  NotDPort: "VIGIL_MATCH_NOT_DPORT",
  DPortPriv: "VIGIL_MATCH_DPORT_PRIV",
  NotDPortPriv: "VIGIL_MATCH_NOT_DPORT_PRIV",
  SAddr: "VIGIL_MATCH_SADDR",
  NotSAddr: "VIGIL_MATCH_NOT_SADDR",
  DAddr: "VIGIL_MATCH_NET_DADDR",
  NotDAddr: "VIGIL_MATCH_NOT_NET_DADDR",
  Protocol: "VIGIL_MATCH_PROTOCOL",
  Family: "VIGIL_MATCH_FAMILY",
  State: "VIGIL_MATCH_STATE",
};

/** Inline u64 values of a filter (the ABI's 8: 4 values or 4 inclusive ranges). */
const MAX_INLINE = 4;

/**
 * Plans a network operator on a sock/socket/skb arg at `pos`. Returns `null` when the arg is not
 * one of those kinds (the generic planner goes on), `undefined` after reporting an error.
 */
export function planNetFilter(
  f: ArgFilter,
  pos: number,
  arg: PlannedArg,
  sink: IssueSink,
): PlannedArgFilter | undefined | null {
  if (!isNetKind(arg.kind)) return null;
  const op = NET_OPS[f.operator];
  if (op === undefined) {
    sink.error(
      f.at,
      `operator ${f.operator} on args[${pos}] (type ${arg.type}): Tetragon's operators on ${arg.type} ` +
        `are SPort/DPort/SAddr/DAddr (and Not/Priv forms), Protocol, Family and State`,
    );
    return undefined;
  }
  const m = f.match;
  const base = { at: f.at, arg: pos, op };
  if (m.kind === "none") return { ...base, values: [], nvalues: 0 };
  if (m.kind === "addresses") {
    return { ...base, values: [], nvalues: 0, set: { kind: "cidr", values: m.prefixes } };
  }
  if (m.kind !== "set") {
    sink.error(f.at, `${f.operator} on args[${pos}] (type ${arg.type}) needs numbers or names`);
    return undefined;
  }
  const ranges = m.ranges.map(([lo, hi]) => [BigInt(lo), BigInt(hi)] as const);
  if (op.endsWith("PORT")) {
    if (ranges.length > MAX_INLINE) {
      sink.error(f.at, `at most ${MAX_INLINE} ports or port ranges per ${f.operator} entry`);
      return undefined;
    }
    const values = ranges.flatMap(([lo, hi]) => [lo, hi]);
    return { ...base, values, nvalues: values.length };
  }
  // Protocol, Family, State: up to 8 single values.
  const values: bigint[] = [];
  for (const [lo, hi] of ranges) {
    for (let v = lo; v <= hi; v++) {
      values.push(v);
      if (values.length > 2 * MAX_INLINE) {
        sink.error(f.at, `at most ${2 * MAX_INLINE} values per ${f.operator} entry`);
        return undefined;
      }
    }
  }
  return { ...base, values, nvalues: values.length };
}

const CAP_OPS: Partial<Record<ArgOperator, MatchOp>> = {
  Equal: "VIGIL_MATCH_EQ",
  NotEqual: "VIGIL_MATCH_NEQ",
  Mask: "VIGIL_MATCH_MASK",
  // Tetragon's Capability: the set holds any of the listed capabilities.
  Capability: "VIGIL_MATCH_MASK",
};

/**
 * Plans a filter on a kernel-object arg: network operators on sock/socket/skb, and
 * Equal/NotEqual/Mask/Capability with `CAP_*` values on capability sets. Returns `null` when the
 * generic planner applies, `undefined` after reporting an error.
 */
export function planKernelFilter(
  f: ArgFilter,
  pos: number,
  arg: PlannedArg,
  sink: IssueSink,
): PlannedArgFilter | undefined | null {
  if (isNetKind(arg.kind)) return planNetFilter(f, pos, arg, sink);
  if (arg.kind !== "VIGIL_ARG_CAP_SET" || f.match.kind !== "capabilities") return null;
  const op = CAP_OPS[f.operator];
  if (op === undefined) {
    sink.error(f.at, `operator ${f.operator} does not take capability names`);
    return undefined;
  }
  const masks = f.match.masks;
  if (masks.length > MAX_INLINE) {
    sink.error(f.at, `at most ${MAX_INLINE} values per ${f.operator} entry`);
    return undefined;
  }
  return { at: f.at, arg: pos, op, values: [...masks], nvalues: masks.length };
}

const LPM_KEY = STRUCTS.vigil_lpm_key;

/**
 * A `struct vigil_lpm_key` for an address prefix: the set id, then a family byte (4 or 6) and the
 * address; prefixlen counts the 32 bits of the set id, the 8 of the family and the prefix's bits.
 *
 * @example
 * ```ts
 * const key = cidrSetKey(3, { family: 4, bytes: [10, 0, 0, 0], prefixLen: 8 });
 * new DataView(key.buffer).getUint32(0, true); // 48
 * ```
 */
export function cidrSetKey(setId: number, p: IpPrefix): Uint8Array<ArrayBuffer> {
  const key = new Uint8Array(LPM_KEY.size);
  const view = new DataView(key.buffer);
  view.setUint32(LPM_KEY.fields.prefixlen.offset, 32 + 8 + p.prefixLen, true);
  view.setUint32(LPM_KEY.fields.set_id.offset, setId, true);
  key[LPM_KEY.fields.s.offset] = p.family;
  key.set(p.bytes, LPM_KEY.fields.s.offset + 1);
  return key;
}
