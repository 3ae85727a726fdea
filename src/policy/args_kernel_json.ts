/**
 * Tetragon's JSON objects for kernel-object args, decoded from the fixed layouts the kernel writes
 * into the arg's data (`bpf/include/abi_args_kernel.h`): `sock_arg`, `skb_arg`, `net_dev_arg`,
 * `process_credentials_arg`, `user_ns_arg`, `capability_arg`, `kernel_cap_t_arg`/`cap_*_arg`,
 * `bpf_attr_arg`, `bpf_map_arg`, `perf_event_arg` and `module_arg`. As Tetragon's protojson
 * export: proto field names, zero scalars left out (wrapped ids and levels kept), 64-bit numbers
 * as strings, enums by name.
 *
 * @module
 */

import { STRUCTS } from "../bpf/abi.gen.ts";
import { jsonString } from "../events/process_json.ts";
import { CAPABILITY_NAMES } from "./vocab/mod.ts";
import type { KernelArgJson } from "./plan/mod.ts";

type Layout = { readonly size: number; readonly fields: Record<string, { offset: number }> };

/** Reads fields of one ABI struct from the arg's data (missing bytes read as zero). */
class View {
  private readonly dv: DataView;
  constructor(data: Uint8Array, private readonly layout: Layout) {
    const buf = new Uint8Array(Math.max(layout.size, data.length));
    buf.set(data);
    this.dv = new DataView(buf.buffer);
  }
  private at(name: string): number {
    const f = this.layout.fields[name];
    if (f === undefined) throw new Error(`ABI field ${name} missing`);
    return f.offset;
  }
  u8(name: string): number {
    return this.dv.getUint8(this.at(name));
  }
  u16(name: string): number {
    return this.dv.getUint16(this.at(name), true);
  }
  u32(name: string): number {
    return this.dv.getUint32(this.at(name), true);
  }
  s32(name: string): number {
    return this.dv.getInt32(this.at(name), true);
  }
  u64(name: string): bigint {
    return this.dv.getBigUint64(this.at(name), true);
  }
  bytes(name: string, n: number): Uint8Array {
    const o = this.at(name);
    return new Uint8Array(this.dv.buffer, o, n);
  }
  text(name: string, n: number): string {
    const b = this.bytes(name, n);
    const nul = b.indexOf(0);
    return new TextDecoder().decode(nul < 0 ? b : b.subarray(0, nul));
  }
}

/** Builds `{"k":v,...}` leaving out what Tetragon's export leaves out. */
class Obj {
  private parts: string[] = [];
  raw(k: string, json: string): this {
    this.parts.push(`"${k}":${json}`);
    return this;
  }
  /** A proto3 scalar: left out when zero or empty. */
  num(k: string, v: number): this {
    return v === 0 ? this : this.raw(k, String(v));
  }
  u64(k: string, v: bigint): this {
    return v === 0n ? this : this.raw(k, `"${v}"`);
  }
  str(k: string, v: string): this {
    return v === "" ? this : this.raw(k, jsonString(v));
  }
  list(k: string, names: readonly string[]): this {
    return names.length === 0 ? this : this.raw(k, `[${names.map(jsonString).join(",")}]`);
  }
  toString(): string {
    return `{${this.parts.join(",")}}`;
  }
}

const FAMILIES: Readonly<Record<number, string>> = {
  0: "AF_UNSPEC",
  1: "AF_UNIX",
  2: "AF_INET",
  10: "AF_INET6",
  16: "AF_NETLINK",
  17: "AF_PACKET",
  40: "AF_VSOCK",
  44: "AF_XDP",
};

const SOCK_TYPES: Readonly<Record<number, string>> = {
  1: "SOCK_STREAM",
  2: "SOCK_DGRAM",
  3: "SOCK_RAW",
  4: "SOCK_RDM",
  5: "SOCK_SEQPACKET",
  6: "SOCK_DCCP",
  10: "SOCK_PACKET",
};

const PROTOCOLS: Readonly<Record<number, string>> = {
  0: "IPPROTO_IP",
  1: "IPPROTO_ICMP",
  2: "IPPROTO_IGMP",
  4: "IPPROTO_IPIP",
  6: "IPPROTO_TCP",
  17: "IPPROTO_UDP",
  41: "IPPROTO_IPV6",
  47: "IPPROTO_GRE",
  50: "IPPROTO_ESP",
  51: "IPPROTO_AH",
  58: "IPPROTO_ICMPV6",
  132: "IPPROTO_SCTP",
  136: "IPPROTO_UDPLITE",
  255: "IPPROTO_RAW",
  262: "IPPROTO_MPTCP",
};

const TCP_STATES = [
  "",
  "TCP_ESTABLISHED",
  "TCP_SYN_SENT",
  "TCP_SYN_RECV",
  "TCP_FIN_WAIT1",
  "TCP_FIN_WAIT2",
  "TCP_TIME_WAIT",
  "TCP_CLOSE",
  "TCP_CLOSE_WAIT",
  "TCP_LAST_ACK",
  "TCP_LISTEN",
  "TCP_CLOSING",
  "TCP_NEW_SYN_RECV",
];

const named = (table: Readonly<Record<number, string>>, v: number) => table[v] ?? String(v);

/** An IPv6 address as RFC 5952 text; IPv4-mapped ones as `::ffff:a.b.c.d`. */
function ipv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function address(family: number, b: Uint8Array): string {
  if (family === 2) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (family === 10) return ipv6(b);
  return "";
}

function netJson(json: "sock_arg" | "skb_arg", cookie: bigint, data: Uint8Array): string {
  const n = new View(data, STRUCTS.vigil_net_arg);
  const family = n.u16("family");
  const protocol = n.u16("protocol");
  const o = new Obj();
  if (json === "sock_arg") {
    o.str("family", named(FAMILIES, family))
      .str("type", n.u16("type") === 0 ? "" : named(SOCK_TYPES, n.u16("type")))
      .str("protocol", named(PROTOCOLS, protocol))
      .num("mark", n.u32("mark"))
      .num("priority", n.u32("priority"))
      .str("saddr", address(family, n.bytes("saddr", 16)))
      .str("daddr", address(family, n.bytes("daddr", 16)))
      .num("sport", n.u16("sport"))
      .num("dport", n.u16("dport"))
      .u64("cookie", cookie)
      .str("state", TCP_STATES[n.u8("state")] ?? String(n.u8("state")));
    return `"sock_arg":${o}`;
  }
  o.num("hash", n.u32("hash"))
    .num("len", n.u32("len"))
    .num("priority", n.u32("priority"))
    .num("mark", n.u32("mark"))
    .str("saddr", address(family, n.bytes("saddr", 16)))
    .str("daddr", address(family, n.bytes("daddr", 16)))
    .num("sport", n.u16("sport"))
    .num("dport", n.u16("dport"))
    .num("proto", protocol)
    .str("protocol", family === 0 ? "" : named(PROTOCOLS, protocol))
    .str("family", family === 0 ? "" : named(FAMILIES, family));
  return `"skb_arg":${o}`;
}

/** Capability names as Tetragon's CapabilitiesType enum spells them (1 has no CAP_ prefix). */
function capNames(set: bigint): string[] {
  const out: string[] = [];
  for (let i = 0; i < 64; i++) {
    if ((set >> BigInt(i)) & 1n) {
      out.push(i === 1 ? "DAC_OVERRIDE" : CAPABILITY_NAMES[i] ?? `CAP_${i}`);
    }
  }
  return out;
}

const SECUREBITS = [
  "SecBitNoRoot",
  "SecBitNoRootLocked",
  "SecBitNoSetUidFixup",
  "SecBitNoSetUidFixupLocked",
  "SecBitKeepCaps",
  "SecBitKeepCapsLocked",
  "SecBitNoCapAmbientRaise",
  "SecBitNoCapAmbientRaiseLocked",
];

/** The initial user namespace's inode (PROC_USER_INIT_INO): Tetragon's `is_host`. */
const HOST_USER_NS_INUM = 0xeffffffd;

function userNsJson(v: View, prefix: string): string {
  const inum = v.u32(`${prefix}inum`);
  const ns = new Obj().num("inum", inum);
  if (inum === HOST_USER_NS_INUM) ns.raw("is_host", "true");
  return new Obj()
    .raw("level", String(v.s32(`${prefix}level`)))
    .raw("uid", String(v.u32(`${prefix}uid`)))
    .raw("gid", String(v.u32(`${prefix}gid`)))
    .raw("ns", ns.toString())
    .toString();
}

/** `struct vigil_cred_arg` with its nested user namespace flattened as `user_ns.<field>`. */
const CRED_LAYOUT: Layout = {
  size: STRUCTS.vigil_cred_arg.size,
  fields: {
    ...STRUCTS.vigil_cred_arg.fields,
    ...Object.fromEntries(
      Object.entries(STRUCTS.vigil_user_ns_arg.fields).map(([k, f]) => [
        `user_ns.${k}`,
        { offset: STRUCTS.vigil_cred_arg.fields.user_ns.offset + f.offset },
      ]),
    ),
  },
};

function credJson(data: Uint8Array): string {
  const c = new View(data, CRED_LAYOUT);
  const o = new Obj();
  for (const k of ["uid", "gid", "euid", "egid", "suid", "sgid", "fsuid", "fsgid"]) {
    o.raw(k, String(c.u32(k)));
  }
  const bits = c.u32("securebits");
  o.list("securebits", SECUREBITS.filter((_, i) => (bits >> i) & 1));
  const caps = new Obj()
    .list("permitted", capNames(c.u64("cap_permitted")))
    .list("effective", capNames(c.u64("cap_effective")))
    .list("inheritable", capNames(c.u64("cap_inheritable")));
  o.raw("caps", caps.toString()).raw("user_ns", userNsJson(c, "user_ns."));
  return `"process_credentials_arg":${o}`;
}

/** BPF program and map type names (uapi/linux/bpf.h order). */
const PROG_TYPES = [
  "UNSPEC",
  "SOCKET_FILTER",
  "KPROBE",
  "SCHED_CLS",
  "SCHED_ACT",
  "TRACEPOINT",
  "XDP",
  "PERF_EVENT",
  "CGROUP_SKB",
  "CGROUP_SOCK",
  "LWT_IN",
  "LWT_OUT",
  "LWT_XMIT",
  "SOCK_OPS",
  "SK_SKB",
  "CGROUP_DEVICE",
  "SK_MSG",
  "RAW_TRACEPOINT",
  "CGROUP_SOCK_ADDR",
  "LWT_SEG6LOCAL",
  "LIRC_MODE2",
  "SK_REUSEPORT",
  "FLOW_DISSECTOR",
  "CGROUP_SYSCTL",
  "RAW_TRACEPOINT_WRITABLE",
  "CGROUP_SOCKOPT",
  "TRACING",
  "STRUCT_OPS",
  "EXT",
  "LSM",
  "SK_LOOKUP",
  "SYSCALL",
  "NETFILTER",
]; // deno-fmt-ignore
const MAP_TYPES = [
  "UNSPEC", "HASH", "ARRAY", "PROG_ARRAY", "PERF_EVENT_ARRAY", "PERCPU_HASH", "PERCPU_ARRAY",
  "STACK_TRACE", "CGROUP_ARRAY", "LRU_HASH", "LRU_PERCPU_HASH", "LPM_TRIE", "ARRAY_OF_MAPS",
  "HASH_OF_MAPS", "DEVMAP", "SOCKMAP", "CPUMAP", "XSKMAP", "SOCKHASH", "CGROUP_STORAGE",
  "REUSEPORT_SOCKARRAY", "PERCPU_CGROUP_STORAGE", "QUEUE", "STACK", "SK_STORAGE",
  "DEVMAP_HASH", "STRUCT_OPS", "RINGBUF", "INODE_STORAGE", "TASK_STORAGE", "BLOOM_FILTER",
  "USER_RINGBUF", "CGRP_STORAGE", "ARENA",
]; // deno-fmt-ignore

const typeName = (prefix: string, table: readonly string[], v: number) =>
  table[v] === undefined ? String(v) : `${prefix}${table[v]}`;

const PERF_TYPES = [
  "PERF_TYPE_HARDWARE",
  "PERF_TYPE_SOFTWARE",
  "PERF_TYPE_TRACEPOINT",
  "PERF_TYPE_HW_CACHE",
  "PERF_TYPE_RAW",
  "PERF_TYPE_BREAKPOINT",
]; // deno-fmt-ignore

/** Kernel taint bits as Tetragon's TaintedBitsType names them (by mask). */
const TAINTS: ReadonlyMap<number, string> = new Map([
  [0, "TAINT_PROPRIETARY_MODULE"],
  [1, "TAINT_FORCED_MODULE"],
  [2, "TAINT_FORCED_UNLOAD_MODULE"],
  [10, "TAINT_STAGED_MODULE"],
  [12, "TAINT_OUT_OF_TREE_MODULE"],
  [13, "TAINT_UNSIGNED_MODULE"],
  [15, "TAINT_KERNEL_LIVE_PATCH_MODULE"],
  [18, "TAINT_TEST_MODULE"],
]);

function moduleJson(data: Uint8Array): string {
  const m = new View(data, STRUCTS.vigil_module_arg);
  const flags = m.u32("flags");
  const o = new Obj().str("name", m.text("name", 56));
  if (flags & 1) o.raw("signature_ok", (flags & 2) ? "true" : "false");
  const taints = m.u64("taints");
  o.list("tainted", [...TAINTS].filter(([bit]) => (taints >> BigInt(bit)) & 1n).map(([, n]) => n));
  return `"module_arg":${o}`;
}

/**
 * The body (`"sock_arg":{…}`) of a kernel-object arg; `v` is the arg's value (the object's
 * address, or the set for capability sets), `data` what the kernel wrote for it.
 *
 * @example
 * ```ts
 * kernelArgJson("kernel_cap_t_arg", 0x1ffffffffffn, new Uint8Array());
 * // "\"kernel_cap_t_arg\":\"000001ffffffffff\""
 * ```
 */
export function kernelArgJson(json: KernelArgJson, v: bigint, data: Uint8Array): string {
  switch (json) {
    case "sock_arg":
    case "skb_arg":
      return netJson(json, v, data);
    case "net_dev_arg":
      return `"net_dev_arg":${new Obj().str("name", new TextDecoder().decode(data))}`;
    case "process_credentials_arg":
      return credJson(data);
    case "user_ns_arg":
      return `"user_ns_arg":${userNsJson(new View(data, STRUCTS.vigil_user_ns_arg), "")}`;
    case "capability_arg": {
      const nr = Number(BigInt.asIntN(32, v));
      return `"capability_arg":${
        new Obj().raw("value", String(nr)).str("name", CAPABILITY_NAMES[nr] ?? "")
      }`;
    }
    case "kernel_cap_t_arg":
    case "cap_inheritable_arg":
    case "cap_permitted_arg":
    case "cap_effective_arg":
      return `"${json}":"${BigInt.asUintN(64, v).toString(16).padStart(16, "0")}"`;
    case "bpf_attr_arg": {
      const p = new View(data, STRUCTS.vigil_bpf_prog_arg);
      return `"bpf_attr_arg":${
        new Obj()
          .str("ProgType", typeName("BPF_PROG_TYPE_", PROG_TYPES, p.u32("prog_type")))
          .num("InsnCnt", p.u32("insn_cnt"))
          .str("ProgName", p.text("name", 16))
      }`;
    }
    case "bpf_map_arg": {
      const p = new View(data, STRUCTS.vigil_bpf_map_arg);
      return `"bpf_map_arg":${
        new Obj()
          .str("MapType", typeName("BPF_MAP_TYPE_", MAP_TYPES, p.u32("map_type")))
          .num("KeySize", p.u32("key_size"))
          .num("ValueSize", p.u32("value_size"))
          .num("MaxEntries", p.u32("max_entries"))
          .str("MapName", p.text("name", 16))
      }`;
    }
    case "perf_event_arg": {
      const p = new View(data, STRUCTS.vigil_perf_event_arg);
      const type = p.u32("type");
      return `"perf_event_arg":${
        new Obj()
          .str("KprobeFunc", p.text("kprobe_func", 128))
          .str("Type", PERF_TYPES[type] ?? p.text("pmu", 16))
          .u64("Config", p.u64("config"))
          .u64("ProbeOffset", p.u64("probe_offset"))
      }`;
    }
    case "module_arg":
      return moduleJson(data);
  }
}
