/**
 * Kernel-object args of function hooks (sock, skb, cred, bpf_map, module, ...): how the planner
 * reads them, how network operators and CIDR sets are encoded, and the Tetragon JSON objects the
 * event lines carry, built from records laid out as the kernel writes them.
 */
import assert from "node:assert/strict";
import { STRUCTS } from "../../src/bpf/abi.gen.ts";
import { compileHook } from "../../src/policy/compile.ts";
import { hookEventInfo, policyEventLine } from "../../src/policy/event_json.ts";
import type { PlannedHook } from "../../src/policy/plan/mod.ts";
import { cidrSetKey } from "../../src/policy/plan/args_kernel.ts";
import { decoded } from "../events/_policy_record.ts";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import {
  errorMessages,
  EVERYTHING_KERNEL,
  facts,
  onlyHook,
  planSpec,
  policyFile,
} from "./plan_fixtures.ts";

const FN = facts({ features: EVERYTHING_KERNEL });
const TIME = "2026-12-07T01:00:00.000000000Z";

function kprobe(call: string, args: string[], selectors: string[] = []): string[] {
  return [
    "  kprobes:",
    `  - call: ${call}`,
    "    syscall: false",
    "    args:",
    ...args.flatMap((a, i) => [`    - index: ${i}`, `      type: ${a}`]),
    ...(selectors.length > 0 ? ["    selectors:", ...selectors] : []),
  ];
}

/** The arg objects of one event line of `hook` for a record with these ints and data. */
function argsOf(hook: PlannedHook, ints: bigint[], data: Uint8Array[]): unknown {
  const text = policyEventLine(
    decoded({ ints, data }),
    hookEventInfo(hook),
    undefined,
    undefined,
    "n",
    TIME,
  );
  return JSON.parse(text).process_kprobe.args;
}

/** Bytes of one ABI struct, fields set by name. */
function layout(
  s: { size: number; fields: Record<string, { offset: number; size: number }> },
  values: Record<string, number | bigint | number[] | string>,
): Uint8Array {
  const b = new Uint8Array(s.size);
  const v = new DataView(b.buffer);
  for (const [name, x] of Object.entries(values)) {
    const f = s.fields[name]!;
    if (typeof x === "string") b.set(new TextEncoder().encode(x), f.offset);
    else if (Array.isArray(x)) b.set(x, f.offset);
    else if (typeof x === "bigint") v.setBigUint64(f.offset, x, true);
    else if (f.size === 1) v.setUint8(f.offset, x);
    else if (f.size === 2) v.setUint16(f.offset, x, true);
    else v.setUint32(f.offset, x, true);
  }
  return b;
}

Deno.test("kernel-object args of a kernel function plan as BTF reads with Tetragon's JSON", () => {
  const types = ["sock", "skb", "cred", "bpf_map", "module"];
  const hook = onlyHook(planSpec(kprobe("some_function", types), FN));
  assert.ok(hook.runnable, JSON.stringify(hook.errors));
  assert.deepEqual(
    hook.args.map((a) => [a.type, a.kind, a.ctxOffset, a.json]),
    [
      ["sock", "VIGIL_ARG_SOCK", 0, "sock_arg"],
      ["skb", "VIGIL_ARG_SKB", 8, "skb_arg"],
      ["cred", "VIGIL_ARG_CRED", 16, "process_credentials_arg"],
      ["bpf_map", "VIGIL_ARG_BPF_MAP", 24, "bpf_map_arg"],
      ["module", "VIGIL_ARG_MODULE", 32, "module_arg"],
    ],
  );
  const more = onlyHook(planSpec(
    kprobe("other_function", ["socket", "sockaddr", "capability", "cap_effective", "load_info"]),
    FN,
  ));
  assert.deepEqual(more.args.map((a) => [a.kind, a.json]), [
    ["VIGIL_ARG_SOCKET", "sock_arg"],
    ["VIGIL_ARG_KSOCKADDR", "sockaddr_arg"],
    ["VIGIL_ARG_INT", "capability_arg"],
    ["VIGIL_ARG_CAP_SET", "cap_effective_arg"],
    ["VIGIL_ARG_LOAD_INFO", "module_arg"],
  ]);
});

Deno.test("network operators on a sock: ports as ranges, CIDRs of both families in an LPM set", () => {
  const plan = planSpec(
    kprobe("tcp_connect", ["sock"], [
      "    - matchArgs:",
      "      - index: 0",
      "        operator: DPort",
      '        values: ["443", "8000:8080"]',
      "      - index: 0",
      "        operator: DAddr",
      '        values: ["10.0.0.0/8", "fd00::/8", "127.0.0.1"]',
      "      - index: 0",
      "        operator: Protocol",
      '        values: ["IPPROTO_TCP"]',
      "      - index: 0",
      "        operator: NotSPortPriv",
      "      - index: 0",
      "        operator: State",
      '        values: ["TCP_SYN_SENT"]',
    ]),
    FN,
  );
  const hook = onlyHook(plan);
  assert.ok(hook.runnable, errorMessages(plan).join("\n"));
  const f = hook.selectors[0]!.argFilters;
  assert.deepEqual(f.map((x) => [x.op, x.values, x.nvalues]), [
    ["VIGIL_MATCH_DPORT", [443n, 443n, 8000n, 8080n], 4],
    ["VIGIL_MATCH_NET_DADDR", [], 0],
    ["VIGIL_MATCH_PROTOCOL", [6n], 1],
    ["VIGIL_MATCH_NOT_SPORT_PRIV", [], 0],
    ["VIGIL_MATCH_STATE", [2n], 1],
  ]);
  assert.equal(f[1]!.set?.kind, "cidr");
  assert.equal(hook.sets.lpm, 3);
  let next = 7;
  const out = compileHook(hook, { hookId: 0, allocSetId: () => next++ });
  assert.equal(out.lpmSet.length, 3);
  // The keys carry (set id, family byte, address) with the prefix's bits after 40.
  const keys = out.lpmSet.map((e) => new DataView(e.key.buffer));
  assert.deepEqual(keys.map((k) => [k.getUint32(0, true), k.getUint32(4, true), k.getUint8(8)]), [
    [48, 7, 4],
    [48, 7, 6],
    [72, 7, 4],
  ]);
  assert.deepEqual([...out.lpmSet[2]!.key.subarray(9, 13)], [127, 0, 0, 1]);
});

Deno.test("cidrSetKey() lays out an IPv6 prefix after its family byte", () => {
  const k = cidrSetKey(1, { family: 6, bytes: [0xfd, ...new Array(15).fill(0)], prefixLen: 8 });
  assert.equal(k.length, STRUCTS.vigil_lpm_key.size);
  assert.equal(new DataView(k.buffer).getUint32(0, true), 32 + 8 + 8);
  assert.deepEqual([...k.subarray(8, 10)], [6, 0xfd]);
});

Deno.test("sock_arg and skb_arg: the fields Tetragon prints, zeros left out", () => {
  const hook = onlyHook(planSpec(kprobe("tcp_connect", ["sock", "skb"]), FN));
  const net = STRUCTS.vigil_net_arg;
  const sock = layout(net, {
    family: 2,
    type: 1,
    protocol: 6,
    sport: 40000,
    dport: 8080,
    state: 2,
    saddr: [127, 0, 0, 1],
    daddr: [10, 1, 2, 3],
  });
  const skb = layout(net, {
    family: 10,
    protocol: 17,
    sport: 53,
    dport: 5353,
    len: 120,
    saddr: [0xfd, 0, ...new Array(13).fill(0), 1],
    daddr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 0, 1],
  });
  assert.deepEqual(argsOf(hook, [0xffff9e0012345678n, 0xffff9e00aaaa0000n], [sock, skb]), [
    {
      sock_arg: {
        family: "AF_INET",
        type: "SOCK_STREAM",
        protocol: "IPPROTO_TCP",
        saddr: "127.0.0.1",
        daddr: "10.1.2.3",
        sport: 40000,
        dport: 8080,
        cookie: String(0xffff9e0012345678n),
        state: "TCP_SYN_SENT",
      },
    },
    {
      skb_arg: {
        len: 120,
        saddr: "fd00::1",
        daddr: "::ffff:192.168.0.1",
        sport: 53,
        dport: 5353,
        proto: 17,
        protocol: "IPPROTO_UDP",
        family: "AF_INET6",
      },
    },
  ]);
});

Deno.test("process_credentials_arg follows Tetragon's documented commit_creds event", () => {
  const hook = onlyHook(planSpec(kprobe("commit_creds", ["cred"]), FN));
  const c = STRUCTS.vigil_cred_arg;
  const ns = c.fields.user_ns.offset;
  const data = layout(c, {
    uid: 0,
    gid: 0,
    euid: 0,
    egid: 60,
    suid: 0,
    sgid: 60,
    fsuid: 0,
    fsgid: 60,
    cap_permitted: 0x3n,
    cap_effective: 0x3n,
  });
  new DataView(data.buffer).setUint32(
    ns + STRUCTS.vigil_user_ns_arg.fields.inum.offset,
    4026531837,
    true,
  );
  assert.deepEqual(argsOf(hook, [0xffff1n], [data]), [{
    process_credentials_arg: {
      uid: 0,
      gid: 0,
      euid: 0,
      egid: 60,
      suid: 0,
      sgid: 60,
      fsuid: 0,
      fsgid: 60,
      caps: {
        permitted: ["CAP_CHOWN", "DAC_OVERRIDE"],
        effective: ["CAP_CHOWN", "DAC_OVERRIDE"],
      },
      user_ns: { level: 0, uid: 0, gid: 0, ns: { inum: 4026531837, is_host: true } },
    },
  }]);
});

Deno.test("bpf, module, capability and cap-set args print as Tetragon's objects", () => {
  const hook = onlyHook(planSpec(
    kprobe("f", ["bpf_map", "bpf_attr", "module", "capability", "kernel_cap_t"]),
    FN,
  ));
  const map = layout(STRUCTS.vigil_bpf_map_arg, {
    map_type: 1,
    key_size: 4,
    value_size: 8,
    max_entries: 16,
    name: "vigil_args",
  });
  const prog = layout(STRUCTS.vigil_bpf_prog_arg, { prog_type: 2, insn_cnt: 9, name: "p" });
  const mod = layout(STRUCTS.vigil_module_arg, {
    name: "kernel_module_hello",
    taints: (1n << 12n) | (1n << 13n),
    flags: 4,
  });
  assert.deepEqual(argsOf(hook, [1n, 2n, 3n, 21n, 0x1ffffffffffn], [map, prog, mod]), [
    {
      bpf_map_arg: {
        MapType: "BPF_MAP_TYPE_HASH",
        KeySize: 4,
        ValueSize: 8,
        MaxEntries: 16,
        MapName: "vigil_args",
      },
    },
    { bpf_attr_arg: { ProgType: "BPF_PROG_TYPE_KPROBE", InsnCnt: 9, ProgName: "p" } },
    {
      module_arg: {
        name: "kernel_module_hello",
        tainted: ["TAINT_OUT_OF_TREE_MODULE", "TAINT_UNSIGNED_MODULE"],
      },
    },
    { capability_arg: { value: 21, name: "CAP_SYS_ADMIN" } },
    { kernel_cap_t_arg: "000001ffffffffff" },
  ]);
});

Deno.test("on a syscall tracepoint, kernel objects stay refused with the reason", () => {
  const plan = planSpec([
    "  tracepoints:",
    "  - subsystem: syscalls",
    "    event: sys_enter_connect",
    "    args:",
    "    - index: 5",
    "      type: sock",
  ]);
  assert.match(errorMessages(plan).join("\n"), /type sock reads a kernel object/);
});

Deno.test("a returned sock (sk_alloc) is read and printed as the return's sock_arg", () => {
  const hook = onlyHook(planSpec(
    [
      ...kprobe("sk_alloc", ["nop", "int"]),
      "    return: true",
      "    returnArg:",
      "      index: 0",
      "      type: sock",
    ],
    FN,
  ));
  assert.ok(hook.runnable, JSON.stringify(hook.errors));
  const ret = hook.args.findIndex((a) => a.role === "return");
  assert.equal(hook.args[ret]?.kind, "VIGIL_ARG_SOCK");
  const sock = layout(STRUCTS.vigil_net_arg, { family: 2, type: 2, protocol: 17 });
  const data = hook.args.map((_, i) => (i === ret ? sock : new Uint8Array()));
  const text = policyEventLine(
    decoded({ ints: hook.args.map(() => 0n), data, ret: 0xffff8880aabbcc00n }),
    hookEventInfo(hook),
    undefined,
    undefined,
    "n",
    TIME,
  );
  assert.deepEqual(JSON.parse(text).process_kprobe.return, {
    sock_arg: {
      family: "AF_INET",
      type: "SOCK_DGRAM",
      protocol: "IPPROTO_UDP",
      // Not bound yet: Go's net.IP prints the zero address, as Tetragon does.
      saddr: "0.0.0.0",
      daddr: "0.0.0.0",
      cookie: String(0xffff8880aabbcc00n),
    },
  });
});

Deno.test("Capability on a kernel_cap_t runs: the set holds any of the listed capabilities", () => {
  const plan = planPolicy(
    policyFile("tests/fixtures/policy/tetragon_corpus/deny-privileged-containers.yaml"),
    FN,
  );
  assert.ok(plan.runnable, plan.reason ?? "");
  const hook = onlyHook(plan);
  assert.deepEqual(hook.args.map((a) => [a.kind, a.json]), [
    ["VIGIL_ARG_CAP_SET", "kernel_cap_t_arg"],
  ]);
  const [filter] = hook.selectors[0]!.argFilters;
  assert.deepEqual([filter?.op, filter?.values], ["VIGIL_MATCH_MASK", [1n << 21n]]);
});
