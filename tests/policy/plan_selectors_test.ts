/** Selector translation: operators, values, sets, process filters and actions. */
import assert from "node:assert/strict";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import type { PlannedSelector } from "../../src/policy/plan/mod.ts";
import {
  errorMessages,
  facts,
  HOST_NS,
  onlyHook,
  planSpec,
  policyFile,
  THIS_KERNEL,
} from "./plan_fixtures.ts";

const OPENAT = [
  "  kprobes:",
  "  - call: sys_openat",
  "    args:",
  "    - index: 1",
  "      type: string",
  "    - index: 2",
  "      type: int",
  "    selectors:",
];

function selector(...lines: string[]): PlannedSelector {
  const plan = planSpec([...OPENAT, ...lines]);
  assert.deepEqual(errorMessages(plan), []);
  const sel = onlyHook(plan).selectors[0];
  assert.ok(sel);
  return sel;
}

function refusal(...lines: string[]): string {
  const plan = planSpec([...OPENAT, ...lines]);
  assert.equal(plan.runnable, false);
  return errorMessages(plan).join("\n");
}

Deno.test("planPolicy() puts string Equal/Prefix/Postfix values in sets", () => {
  const sel = selector(
    "    - matchArgs:",
    "      - index: 1",
    "        operator: Equal",
    '        values: ["/etc/passwd", "/etc/shadow"]',
    "      - index: 1",
    "        operator: Prefix",
    '        values: ["/etc/"]',
    "      - index: 1",
    "        operator: NotPostfix",
    '        values: [".so"]',
  );
  assert.deepEqual(sel.argFilters.map((f) => [f.arg, f.op, f.nvalues, f.set]), [
    [0, "VIGIL_MATCH_EQ", 0, { kind: "str", values: ["/etc/passwd", "/etc/shadow"] }],
    [0, "VIGIL_MATCH_PREFIX", 0, { kind: "lpm", reversed: false, values: ["/etc/"] }],
    [0, "VIGIL_MATCH_NOT_POSTFIX", 0, { kind: "lpm", reversed: true, values: [".so"] }],
  ]);
});

Deno.test("planPolicy() inlines integer values, two's complement, ranges as pairs", () => {
  const sel = selector(
    "    - matchArgs:",
    "      - index: 2",
    "        operator: Equal",
    '        values: ["-100", "0x40"]',
    "      - index: 2",
    "        operator: InRange",
    '        values: ["1:5", "10:20"]',
    "      - index: 2",
    "        operator: Mask",
    '        values: ["0x3"]',
  );
  assert.deepEqual(sel.argFilters.map((f) => [f.op, f.values, f.nvalues]), [
    ["VIGIL_MATCH_EQ", [0xffffffffffffff9cn, 64n], 2],
    ["VIGIL_MATCH_IN_RANGE", [1n, 5n, 10n, 20n], 4],
    ["VIGIL_MATCH_MASK", [3n], 1],
  ]);
});

Deno.test("planPolicy() expands InMap values and ranges into one integer set", () => {
  const sel = selector(
    "    - matchArgs:",
    "      - index: 2",
    "        operator: NotInMap",
    '        values: ["7", "1:3", "2", "-1"]',
  );
  const f = sel.argFilters[0];
  assert.equal(f?.op, "VIGIL_MATCH_NOT_IN_MAP");
  assert.deepEqual(f?.set, { kind: "int", values: [1n, 2n, 3n, 7n, 0xffffffffffffffffn] });
});

Deno.test("planPolicy() maps sockaddr SPort/SAddr/Family onto the address's port, addr, family", () => {
  const plan = planPolicy(policyFile("policies/connect_port.yaml"), facts());
  assert.deepEqual(
    onlyHook(plan).selectors[0]?.argFilters.map((f) => [f.arg, f.op, f.values, f.nvalues]),
    [
      [1, "VIGIL_MATCH_FAMILY", [2n, 10n], 2],
      [1, "VIGIL_MATCH_DPORT", [4444n, 4444n], 2],
    ],
  );
  const addr = planSpec([
    "  kprobes:",
    "  - call: sys_connect",
    "    args:",
    "    - index: 1",
    "      type: sockaddr",
    "    selectors:",
    "    - matchArgs:",
    "      - index: 1",
    "        operator: NotSAddr",
    '        values: ["127.0.0.1", "10.0.0.0/8"]',
    "      - index: 1",
    "        operator: SPortPriv",
  ]);
  assert.deepEqual(onlyHook(addr).selectors[0]?.argFilters.map((f) => [f.op, f.values]), [
    // (prefixlen << 32) | the address bytes as a little-endian u32
    ["VIGIL_MATCH_NOT_DADDR", [(32n << 32n) | 0x0100007fn, (8n << 32n) | 0x0000000an]],
    ["VIGIL_MATCH_DPORT_PRIV", []],
  ]);
  const v6 = planSpec([
    "  kprobes:",
    "  - call: sys_connect",
    "    args:",
    "    - index: 1",
    "      type: sockaddr",
    "    selectors:",
    "    - matchArgs:",
    "      - index: 1",
    "        operator: SAddr",
    '        values: ["::1"]',
  ]);
  assert.match(
    errorMessages(v6).join("\n"),
    /IPv6 address: vigil's in-kernel matcher compares IPv4/,
  );
});

Deno.test("planPolicy() refuses operators the in-kernel matcher lacks, at the entry", () => {
  const message = refusal(
    "    - matchArgs:",
    "      - index: 1",
    "        operator: SubString",
    '        values: ["shadow"]',
  );
  assert.match(
    message,
    /^spec\.kprobes\[0\]\.selectors\[0\]\.matchArgs\[0\]: operator SubString on args\[0\] \(type string\) is not supported by vigil's in-kernel matcher$/,
  );
});

Deno.test("planPolicy() plans pids, binaries, namespaces (host_ns) and capabilities", () => {
  const sel = selector(
    "    - matchPIDs:",
    "      - operator: NotIn",
    "        values: [1, 2]",
    "        isNamespacePID: true",
    "      matchBinaries:",
    "      - operator: Postfix",
    '        values: ["/sh"]',
    "      matchNamespaces:",
    "      - namespace: Mnt",
    "        operator: In",
    '        values: ["host_ns", "4026532000"]',
    "      matchCapabilities:",
    "      - type: Permitted",
    "        operator: In",
    "        values: [CAP_SYS_ADMIN, CAP_NET_RAW]",
  );
  assert.deepEqual(sel.pids, [
    { op: "VIGIL_SET_NOT_IN", values: [1, 2], namespacePid: true, follow: false },
  ]);
  assert.deepEqual(sel.binaries, {
    op: "VIGIL_SET_POSTFIX",
    set: { kind: "lpm", reversed: true, values: ["/sh"] },
    follow: false,
  });
  assert.deepEqual(sel.namespaces, [
    { ns: "VIGIL_NS_MNT", op: "VIGIL_SET_IN", values: [HOST_NS.Mnt, 4026532000] },
  ]);
  assert.deepEqual(sel.capabilities, [
    {
      set: "VIGIL_CAP_PERMITTED",
      op: "VIGIL_SET_IN",
      mask: (1n << 21n) | (1n << 13n),
      namespaced: false,
    },
  ]);
});

Deno.test("planPolicy() refuses host_ns when the host's inode is unknown", () => {
  const f = { ...facts(), hostNamespaces: {}, hostNamespacesError: "/proc/1/ns/net: EACCES" };
  const plan = planSpec([
    ...OPENAT,
    "    - matchNamespaces:",
    "      - namespace: Net",
    "        operator: NotIn",
    '        values: ["host_ns"]',
  ], f);
  assert.match(
    errorMessages(plan).join("\n"),
    /host_ns needs the host's Net namespace inode \(from \/proc\/1\/ns\), which is unknown: \/proc\/1\/ns\/net: EACCES/,
  );
});

Deno.test("planPolicy() plans followForks, several matchPIDs entries, followChildren, parents", () => {
  const sel = selector(
    "    - matchPIDs:",
    "      - operator: NotIn",
    "        followForks: true",
    "        isNamespacePID: true",
    "        values: [1]",
    "      - operator: NotIn",
    "        followForks: true",
    "        isNamespacePID: true",
    "        values: [0]",
    "      matchBinaries:",
    "      - operator: In",
    '        values: ["/usr/sbin/sshd"]',
    "        followChildren: true",
    "      matchParentBinaries:",
    "      - operator: NotPrefix",
    '        values: ["/usr/lib/"]',
  );
  assert.deepEqual(sel.pids, [
    { op: "VIGIL_SET_NOT_IN", values: [1], namespacePid: true, follow: true },
    { op: "VIGIL_SET_NOT_IN", values: [0], namespacePid: true, follow: true },
  ]);
  assert.deepEqual(sel.binaries, {
    op: "VIGIL_SET_IN",
    set: { kind: "str", values: ["/usr/sbin/sshd"] },
    follow: true,
  });
  assert.deepEqual(sel.parentBinaries, {
    op: "VIGIL_SET_NOT_PREFIX",
    set: { kind: "lpm", reversed: false, values: ["/usr/lib/"] },
    follow: false,
  });
});

Deno.test("planPolicy() refuses what struct vigil_selector cannot hold, at its location", () => {
  assert.match(
    refusal(
      "    - matchPIDs:",
      "      - operator: In",
      "        values: [1]",
      "      - operator: In",
      "        values: [2]",
      "      - operator: In",
      "        values: [3]",
      "      - operator: In",
      "        values: [4]",
    ),
    /matchPIDs\[3\]: vigil's engine holds at most 3 matchPIDs entries per selector/,
  );
  assert.match(
    refusal("    - matchNamespaceChanges:", "      - operator: In", "        values: [Mnt]"),
    /matchNamespaceChanges compares .* exec-time namespaces .*not runnable/,
  );
  assert.match(
    refusal(
      "    - matchCapabilityChanges:",
      "      - operator: In",
      "        values: [CAP_SETUID]",
    ),
    /matchCapabilityChanges compares .* exec-time capabilities .*not runnable/,
  );
  assert.match(
    refusal(
      "    - matchCapabilities:",
      "      - operator: In",
      "        values: [CAP_SYS_ADMIN]",
      "      - operator: In",
      "        values: [CAP_BPF]",
      "      - operator: NotIn",
      "        values: [CAP_KILL]",
    ),
    /matchCapabilities\[2\]: vigil's engine holds at most 2 matchCapabilities entries/,
  );
});

Deno.test("planPolicy() plans actions: Post with rate limit, Sigkill, Signal; default Post", () => {
  const sel = selector(
    "    - matchActions:",
    "      - action: Post",
    '        rateLimit: "5m"',
    "        rateLimitScope: global",
    "      - action: Signal",
    "        argSig: 10",
    "      - action: Sigkill",
  );
  assert.deepEqual(sel.actions.map((a) => [a.kind, a.scope, a.signal, a.rateLimitNs]), [
    ["VIGIL_ACT_POST", "VIGIL_RATE_GLOBAL", 0, 300_000_000_000n],
    ["VIGIL_ACT_SIGNAL", "VIGIL_RATE_THREAD", 10, 0n],
    ["VIGIL_ACT_SIGKILL", "VIGIL_RATE_THREAD", 9, 0n],
  ]);
  const none = selector(
    "    - matchArgs:",
    "      - index: 2",
    "        operator: GT",
    '        values: ["0"]',
  );
  assert.deepEqual(none.actions.map((a) => a.kind), ["VIGIL_ACT_POST"]);
});

Deno.test("planPolicy() refuses Sigkill without bpf_send_signal, and Override on tracepoints", () => {
  const noSignal = {
    ...facts(),
    features: {
      ...THIS_KERNEL,
      send_signal: { supported: false, reason: "helper bpf_send_signal#109 unknown" },
    },
  };
  const plan = planPolicy(policyFile("policies/kill_named_binary.yaml"), noSignal);
  assert.equal(plan.runnable, false);
  assert.match(
    plan.reason ?? "",
    /matchActions\[0\]: action Sigkill needs bpf_send_signal, which this kernel refuses: helper bpf_send_signal#109 unknown/,
  );
  assert.match(
    refusal("    - matchActions:", "      - action: Override", "        argError: -1"),
    /action Override cannot change the result of a call observed through the syscall tracepoint: it needs a kprobe with bpf_override_return, and this kernel has none \(load failed: EINVAL/,
  );
  assert.match(
    refusal("    - matchActions:", "      - action: Post", "        kernelStackTrace: true"),
    /Post with kernelStackTrace is not supported/,
  );
});

Deno.test("planPolicy() marks every hook of a monitor-mode policy", () => {
  const plan = planSpec([
    "  options:",
    "  - name: policy-mode",
    "    value: monitor",
    "  kprobes:",
    "  - call: sys_unlinkat",
  ]);
  assert.equal(plan.mode, "monitor");
  assert.equal(onlyHook(plan).monitor, true);
});

Deno.test("planPolicy() plans isNamespaceCapability with the host user namespace", () => {
  const sel = selector(
    "    - matchCapabilities:",
    "      - operator: In",
    "        isNamespaceCapability: true",
    "        values: [CAP_SYS_ADMIN]",
  );
  assert.deepEqual(sel.capabilities, [
    { set: "VIGIL_CAP_EFFECTIVE", op: "VIGIL_SET_IN", mask: 1n << 21n, namespaced: true },
  ]);
});

Deno.test("planPolicy() runs NotifyEnforcer's argSig in the kernel, refuses its argError", () => {
  const enforcers = ["  enforcers:", "  - calls: [sys_openat]"];
  const plan = planSpec([
    ...enforcers,
    ...OPENAT,
    "    - matchActions:",
    "      - action: NotifyEnforcer",
    "        argSig: 9",
    "    - matchActions:",
    "      - action: CleanupEnforcerNotification",
  ]);
  assert.deepEqual(errorMessages(plan), []);
  const [notify, cleanup] = onlyHook(plan).selectors;
  assert.deepEqual(notify?.actions.map((a) => [a.kind, a.signal]), [
    ["VIGIL_ACT_NOTIFYENFORCER", 9],
  ]);
  // Nothing is left pending to clean up: the selector only posts.
  assert.deepEqual(cleanup?.actions.map((a) => a.kind), ["VIGIL_ACT_POST"]);
  const refused = planSpec([
    ...enforcers,
    ...OPENAT,
    "    - matchActions:",
    "      - action: NotifyEnforcer",
    "        argError: -1",
  ]);
  assert.equal(refused.runnable, false);
  assert.match(
    errorMessages(refused).join("\n"),
    /NotifyEnforcer with argError -1 needs an enforcer program on the syscall/,
  );
});

Deno.test("planPolicy() refuses GetUrl, DnsLookup, TrackSock with the reason", () => {
  assert.match(
    refusal("    - matchActions:", "      - action: GetUrl", "        argUrl: http://x.invalid"),
    /GetUrl makes the agent fetch a URL .* no network I\/O on behalf of policies/,
  );
  assert.match(
    refusal("    - matchActions:", "      - action: DnsLookup", "        argFqdn: x.invalid"),
    /DnsLookup makes the agent resolve a name/,
  );
  assert.match(
    refusal("    - matchActions:", "      - action: TrackSock", "        argSock: 1"),
    /TrackSock records the socket's owner .* no socket-to-process map/,
  );
});

Deno.test("planPolicy() does not post at entry a selector that filters the return value", () => {
  // On this machine's facts a return: true syscall is split at sys_enter/sys_exit.
  const plan = planSpec([
    "  kprobes:",
    "  - call: sys_unlinkat",
    "    syscall: true",
    "    return: true",
    "    args:",
    "    - index: 1",
    "      type: string",
    "    returnArg:",
    "      index: 0",
    "      type: int",
    "    selectors:",
    "    - matchReturnArgs:",
    "      - index: 0",
    "        operator: LT",
    '        values: ["0"]',
    "      matchActions:",
    "      - action: Sigkill",
    "    - matchBinaries:",
    "      - operator: In",
    '        values: ["/bin/rm"]',
  ]);
  assert.deepEqual(errorMessages(plan), []);
  const [entry, exit] = plan.hooks;
  assert.equal(entry?.mechanism, "syscall_tracepoint");
  assert.deepEqual(entry?.selectors.map((s) => s.actions.map((a) => a.kind)), [
    ["VIGIL_ACT_SIGKILL", "VIGIL_ACT_NOPOST"],
    ["VIGIL_ACT_POST"],
  ]);
  assert.deepEqual(exit?.selectors[0]?.actions.map((a) => a.kind), ["VIGIL_ACT_POST"]);
});
