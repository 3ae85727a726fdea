/**
 * Real kernel, real processes: kernel-object arguments of kernel-function hooks, read through BTF
 * and matched in the kernel, each event compared field by field with Tetragon's documented shape.
 *
 * - tcp_connect (sock): a connect to the policy's port and address (DPort + DAddr /32) posts a
 *   `sock_arg`; a connect to another port, and one to another address of the same listener, do not;
 * - commit_creds (cred): a root perl that setuid()s to nobody posts `process_credentials_arg` with
 *   the new ids, no capabilities left and the host user namespace;
 * - security_bpf_map (bpf_map): a hash map created through bpf(2) posts `bpf_map_arg`;
 * - dev_hard_start_xmit (skb + net_device): a UDP datagram to 127.0.0.3:port on lo posts
 *   `skb_arg` and `net_dev_arg`; one to 127.0.0.4 does not;
 * - security_bpf (int + bpf_attr): a program load posts `bpf_attr_arg` (type, instructions, name);
 * - cap_capable (user_namespace + capability, Equal 23): a CAP_SYS_NICE check posts both;
 * - do_init_module (module): `modprobe dummy` posts `module_arg` with the name (no taints).
 *
 * These hooks need fentry or kprobes: on a kernel without both (the development machine) the steps
 * are ignored loudly; the lab runs them:
 * `/work/wt/labrun --kernel 6.12 -- deno test --allow-all tests/policy_e2e/args_kernel_test.ts`.
 */
import assert from "node:assert/strict";
import {
  bodyOf,
  type ExportedEvent,
  kernelFeatures,
  PERL,
  policy,
  type PolicyAgent,
  run,
  runPerl,
  settle,
  startPolicyAgent,
} from "./_helpers.ts";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";

const connectSpec = (port: number) =>
  `  kprobes:
  - call: tcp_connect
    syscall: false
    args:
    - index: 0
      type: sock
    selectors:
    - matchArgs:
      - index: 0
        operator: DPort
        values: ["${port}"]
      - index: 0
        operator: DAddr
        values: ["127.0.0.1/32", "::1/128"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

const CREDS = `  kprobes:
  - call: commit_creds
    syscall: false
    args:
    - index: 0
      type: cred
    selectors:
    - matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

const BPF_MAP = `  kprobes:
  - call: security_bpf_map
    syscall: false
    args:
    - index: 0
      type: bpf_map
    selectors:
    - matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

const CAPABLE = `  kprobes:
  - call: cap_capable
    syscall: false
    args:
    - index: 1
      type: user_namespace
    - index: 2
      type: capability
    selectors:
    - matchArgs:
      - index: 2
        operator: Equal
        values: ["23"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

const BPF_PROG_LOAD = `  kprobes:
  - call: security_bpf
    syscall: false
    args:
    - index: 0
      type: int
    - index: 1
      type: bpf_attr
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["5"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

/** skb + net_device on the transmit path: a UDP datagram to 127.0.0.3:port. */
const xmitSpec = (port: number) =>
  `  kprobes:
  - call: dev_hard_start_xmit
    syscall: false
    args:
    - index: 0
      type: skb
    - index: 1
      type: net_device
    selectors:
    - matchArgs:
      - index: 0
        operator: DAddr
        values: ["127.0.0.3/32"]
      - index: 0
        operator: Protocol
        values: ["IPPROTO_UDP"]
      - index: 0
        operator: DPort
        values: ["${port}"]
      - index: 1
        operator: Equal
        values: ["lo"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

const MODULE = `  kprobes:
  - call: do_init_module
    syscall: false
    args:
    - index: 0
      type: module
`;

/** perl: connect(2) to host:port over TCP; prints "ok" or the errno. */
const connectCode = (host: string, port: number) =>
  `use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) or die; ` +
  `connect($s, pack_sockaddr_in(${port}, inet_aton("${host}"))) or do { print "errno=", $!+0; exit 3 }; ` +
  `print "ok"; exit 0;`;

/** perl: connect(2) to [::1]:port over TCP; prints "ok" or the errno. */
const connect6Code = (port: number) =>
  `use Socket qw(:all); socket(my $s, AF_INET6, SOCK_STREAM, 0) or die; ` +
  `connect($s, pack_sockaddr_in6(${port}, inet_pton(AF_INET6, "::1"))) or do { print "errno=", $!+0; exit 3 }; ` +
  `print "ok"; exit 0;`;

/** perl: one UDP datagram to host:port. */
const udpCode = (host: string, port: number) =>
  `use Socket; socket(my $s, PF_INET, SOCK_DGRAM, 0) or die; ` +
  `send($s, "vigil", 0, pack_sockaddr_in(${port}, inet_aton("${host}"))) or die "send: $!"; ` +
  `print "ok"; exit 0;`;

/** perl: bpf(BPF_MAP_CREATE) of a hash map (key 4, value 8, 16 entries) named vigil_args. */
const MAP_CREATE = `my $a = pack("LLLLLLLa16", 1, 4, 8, 16, 0, 0, 0, "vigil_args"); ` +
  `my $fd = syscall(321, 0, $a, length($a)); print $fd < 0 ? "errno=" . ($!+0) : "ok"; exit 0;`;

/** perl: bpf(BPF_PROG_LOAD) of "r0 = 0; exit" as a socket filter named vigil_prog. */
const PROG_LOAD =
  `my $i = pack("CCsl", 0xb7, 0, 0, 0) . pack("CCsl", 0x95, 0, 0, 0); my $l = "GPL\\0"; ` +
  `my $a = pack("LLQQLLQLLa16", 1, 2, unpack("Q", pack("p", $i)), unpack("Q", pack("p", $l)), ` +
  `0, 0, 0, 0, 0, "vigil_prog"); my $fd = syscall(321, 5, $a, length($a)); ` +
  `print $fd < 0 ? "errno=" . ($!+0) : "ok"; exit 0;`;

async function waitEvent(pa: PolicyAgent, name: string, pid: number): Promise<ExportedEvent> {
  const [e] = await pa.agent.waitFor(
    (x) => bodyOf(x).policy_name === name && bodyOf(x).process?.pid === pid,
    { count: 1, timeoutMs: 15_000 },
  );
  return bodyOf(e!);
}

Deno.test(
  requires(
    "policy e2e: kernel-object args (sock, cred, bpf_map, bpf_attr, user_ns, capability, module)",
    ...POLICY_ENGINE_NEEDS,
  ),
  async (t) => {
    // Listeners first: the policy names their port.
    const hit = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (hit.addr as Deno.NetAddr).port;
    const otherPort = (other.addr as Deno.NetAddr).port;
    // IPv6 loopback on the same port, where the kernel has it.
    let hit6: Deno.Listener | undefined;
    let no6 = "";
    try {
      hit6 = Deno.listen({ hostname: "::1", port });
    } catch (e) {
      no6 = String(e);
    }
    const accepting = [hit, other, ...(hit6 ? [hit6] : [])].map(async (l) => {
      for await (const c of l) c.close();
    });
    try {
      await using pa = await startPolicyAgent({
        "net_connect.yaml": policy("net-connect", connectSpec(port)),
        "creds.yaml": policy("creds", CREDS),
        "bpf_map.yaml": policy("bpf-map", BPF_MAP),
        "module.yaml": policy("module-load", MODULE),
        "capable.yaml": policy("capable", CAPABLE),
        "prog_load.yaml": policy("prog-load", BPF_PROG_LOAD),
        "xmit.yaml": policy("xmit", xmitSpec(port)),
      });
      const features = await kernelFeatures(pa);
      const functions = features.fentry?.supported === true || features.kprobe?.supported === true;
      const ignored = functions
        ? ""
        : ` [IGNORED: this kernel has neither fentry (${features.fentry?.reason}) nor kprobes (${features.kprobe?.reason}): run it in the lab]`;

      await t.step("the policies are enabled where the kernel has function hooks", async () => {
        for (
          const name of [
            "net-connect",
            "creds",
            "bpf-map",
            "module-load",
            "capable",
            "prog-load",
            "xmit",
          ]
        ) {
          const s = await pa.status(name);
          if (!functions) {
            assert.equal(s.state, "error", `${name}: ${JSON.stringify(s)}`);
            continue;
          }
          assert.equal(s.state, "enabled", `${name}: ${s.reason}`);
        }
      });

      await t.step({
        name: `tcp_connect: DPort + DAddr match one connect, not the others${ignored}`,
        ignore: !functions,
        fn: async () => {
          const wrongPort = await runPerl(connectCode("127.0.0.1", otherPort));
          const wrongAddr = await runPerl(connectCode("127.0.0.2", port));
          const r = await runPerl(connectCode("127.0.0.1", port));
          for (const x of [wrongPort, wrongAddr, r]) assert.equal(x.stdout, "ok", x.stderr);
          const e = await waitEvent(pa, "net-connect", r.pid);
          assert.equal(e.function_name, "tcp_connect");
          const sock = (e.args as { sock_arg: Record<string, unknown> }[])[0]!.sock_arg;
          // Tetragon's sock_arg: family, type, protocol, saddr, daddr, sport, dport, cookie, state.
          assert.deepEqual(Object.keys(sock).sort(), [
            "cookie",
            "daddr",
            "dport",
            "family",
            "protocol",
            "saddr",
            "sport",
            "state",
            "type",
          ]);
          assert.equal(sock.family, "AF_INET");
          assert.equal(sock.type, "SOCK_STREAM");
          assert.equal(sock.protocol, "IPPROTO_TCP");
          assert.equal(sock.daddr, "127.0.0.1");
          assert.equal(sock.saddr, "127.0.0.1");
          assert.equal(sock.dport, port);
          assert.ok(typeof sock.sport === "number" && sock.sport > 0, `sport ${sock.sport}`);
          assert.match(String(sock.cookie), /^[1-9][0-9]+$/);
          assert.equal(sock.state, "TCP_SYN_SENT");
          await settle();
          const pids = pa.eventsOf("net-connect").map((x) => bodyOf(x).process?.pid);
          assert.ok(!pids.includes(wrongPort.pid), "a connect to another port matched");
          assert.ok(!pids.includes(wrongAddr.pid), "a connect to 127.0.0.2 matched 127.0.0.1/32");
        },
      });

      await t.step({
        name: `tcp_connect over IPv6: DAddr ::1/128 matches the sock's IPv6 address${
          ignored || (hit6 ? "" : ` [IGNORED: no IPv6 loopback here: ${no6}]`)
        }`,
        ignore: !functions || hit6 === undefined,
        fn: async () => {
          const r = await runPerl(connect6Code(port));
          assert.equal(r.stdout, "ok", r.stderr);
          const e = await waitEvent(pa, "net-connect", r.pid);
          const sock = (e.args as { sock_arg: Record<string, unknown> }[])[0]!.sock_arg;
          assert.equal(sock.family, "AF_INET6");
          assert.equal(sock.daddr, "::1");
          assert.equal(sock.saddr, "::1");
          assert.equal(sock.dport, port);
          assert.equal(sock.state, "TCP_SYN_SENT");
        },
      });

      await t.step({
        name: `dev_hard_start_xmit: skb DAddr/Protocol/DPort and the device's name${ignored}`,
        ignore: !functions,
        fn: async () => {
          const miss = await runPerl(udpCode("127.0.0.4", port));
          const r = await runPerl(udpCode("127.0.0.3", port));
          for (const x of [miss, r]) assert.equal(x.stdout, "ok", x.stderr);
          const e = await waitEvent(pa, "xmit", r.pid);
          const [skbArg, dev] = e.args as [{ skb_arg: Record<string, unknown> }, unknown];
          const skb = skbArg.skb_arg;
          assert.deepEqual(dev, { net_dev_arg: { name: "lo" } });
          assert.equal(skb.family, "AF_INET");
          assert.equal(skb.protocol, "IPPROTO_UDP");
          assert.equal(skb.proto, 17);
          assert.equal(skb.daddr, "127.0.0.3");
          assert.equal(skb.saddr, "127.0.0.1");
          assert.equal(skb.dport, port);
          assert.ok(typeof skb.sport === "number" && skb.sport > 0, `sport ${skb.sport}`);
          assert.ok(typeof skb.len === "number" && skb.len >= 20 + 8 + 5, `len ${skb.len}`);
          await settle();
          assert.ok(
            !pa.eventsOf("xmit").some((x) => bodyOf(x).process?.pid === miss.pid),
            "a datagram to 127.0.0.4 matched DAddr 127.0.0.3/32",
          );
        },
      });

      await t.step({
        name: `commit_creds: setuid to nobody posts the new credentials${ignored}`,
        ignore: !functions,
        fn: async () => {
          const r = await runPerl(
            `use POSIX; POSIX::setuid(65534) or die "setuid: $!"; print "ok"; exit 0;`,
          );
          assert.equal(r.stdout, "ok", r.stderr);
          const events = await pa.waitForPolicyEvents(
            "creds",
            (b) =>
              b.process?.pid === r.pid &&
              (b.args as { process_credentials_arg?: { euid?: number } }[])[0]
                  ?.process_credentials_arg?.euid === 65534,
          );
          const cred = (bodyOf(events[0]!).args as { process_credentials_arg: ExportedEvent }[])[0]!
            .process_credentials_arg as Record<string, unknown>;
          // As Tetragon's documented commit_creds event: ids, caps, user_ns.
          assert.equal(cred.euid, 65534);
          assert.equal(cred.uid, 65534);
          assert.equal(cred.fsuid, 65534);
          assert.equal(cred.gid, 0);
          assert.deepEqual(cred.caps, {}, "a non-root uid keeps no capabilities");
          const userNs = cred.user_ns as {
            level: number;
            uid: number;
            ns: Record<string, unknown>;
          };
          assert.equal(userNs.level, 0);
          assert.equal(userNs.uid, 0);
          assert.deepEqual(userNs.ns, { inum: 4026531837, is_host: true });
          assert.deepEqual(Object.keys(cred), [
            "uid",
            "gid",
            "euid",
            "egid",
            "suid",
            "sgid",
            "fsuid",
            "fsgid",
            "caps",
            "user_ns",
          ]);
        },
      });

      await t.step({
        name: `security_bpf_map: a created hash map is described${ignored}`,
        ignore: !functions,
        fn: async () => {
          const r = await runPerl(MAP_CREATE);
          assert.equal(r.stdout, "ok", r.stderr);
          const e = await waitEvent(pa, "bpf-map", r.pid);
          assert.deepEqual(e.args, [{
            bpf_map_arg: {
              MapType: "BPF_MAP_TYPE_HASH",
              KeySize: 4,
              ValueSize: 8,
              MaxEntries: 16,
              MapName: "vigil_args",
            },
          }]);
        },
      });

      await t.step({
        name:
          `cap_capable: a CAP_SYS_NICE check shows the user namespace and the capability${ignored}`,
        ignore: !functions,
        fn: async () => {
          const r = await runPerl(
            `setpriority(0, 0, -5) or die "setpriority: $!"; print "ok"; exit 0;`,
          );
          assert.equal(r.stdout, "ok", r.stderr);
          const e = await waitEvent(pa, "capable", r.pid);
          assert.deepEqual(e.args, [
            { user_ns_arg: { level: 0, uid: 0, gid: 0, ns: { inum: 4026531837, is_host: true } } },
            { capability_arg: { value: 23, name: "CAP_SYS_NICE" } },
          ]);
        },
      });

      await t.step({
        name: `security_bpf: BPF_PROG_LOAD's attributes (type, instructions, name)${ignored}`,
        ignore: !functions,
        fn: async () => {
          const r = await runPerl(PROG_LOAD);
          assert.equal(r.stdout, "ok", r.stderr);
          const e = await waitEvent(pa, "prog-load", r.pid);
          assert.deepEqual(e.args, [
            { int_arg: 5 },
            {
              bpf_attr_arg: {
                ProgType: "BPF_PROG_TYPE_SOCKET_FILTER",
                InsnCnt: 2,
                ProgName: "vigil_prog",
              },
            },
          ]);
        },
      });

      const dummyLoaded = await Deno.stat("/sys/module/dummy").then(() => true, () => false);
      await t.step({
        name: `do_init_module: modprobe dummy is seen with its name${
          ignored || (dummyLoaded ? " [IGNORED: the dummy module is already loaded]" : "")
        }`,
        ignore: !functions || dummyLoaded,
        fn: async () => {
          const r = await run("modprobe", ["dummy", "numdummies=0"]);
          assert.equal(r.code, 0, r.stderr);
          const [e] = await pa.waitForPolicyEvents(
            "module-load",
            (b) =>
              (b.args as { module_arg?: { name?: string } }[])[0]?.module_arg?.name === "dummy",
          );
          const mod = (bodyOf(e!).args as { module_arg: Record<string, unknown> }[])[0]!.module_arg;
          assert.equal(bodyOf(e!).function_name, "do_init_module");
          // As Tetragon's documented do_init_module event: name and taints (none for an in-tree
          // signed module); the signature verdict belongs to load_info args.
          assert.deepEqual(mod, { name: "dummy" });
          await run("modprobe", ["-r", "dummy"]);
        },
      });
    } finally {
      hit6?.close();
      hit.close();
      other.close();
      await Promise.allSettled(accepting);
    }
  },
);
