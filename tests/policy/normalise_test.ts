import assert from "node:assert/strict";
import { normaliseActionName } from "../../src/policy/vocab/mod.ts";
import { normaliseArgType } from "../../src/policy/vocab/mod.ts";
import { normaliseArgOperator } from "../../src/policy/vocab/mod.ts";
import { parseRateLimit } from "../../src/policy/vocab/mod.ts";
import { parse, parseValid, withSpec } from "./_helpers.ts";

Deno.test("normaliseArgOperator() maps Tetragon's spellings to one canonical name", () => {
  const cases: Array<[string, string]> = [
    ["eq", "Equal"],
    ["Equal", "Equal"],
    ["neq", "NotEqual"],
    ["gt", "GT"],
    ["GreaterThan", "GT"],
    ["GT", "GT"],
    ["lt", "LT"],
    ["LessThan", "LT"],
    ["prefix", "Prefix"],
    ["notpostfix", "NotPostfix"],
    ["mask", "Mask"],
    ["sport", "SPort"],
    ["Dport", "DPort"],
    ["NotSportPriv", "NotSPortPriv"],
    ["notdaddr", "NotDAddr"],
    ["family", "Family"],
  ];
  for (const [written, canonical] of cases) assert.equal(normaliseArgOperator(written), canonical);
  assert.equal(normaliseArgOperator("EQ"), undefined);
  // CelExpr is valid Tetragon vigil cannot run (valid: true); In is refused in matchArgs.
  assert.deepEqual(Object.keys(normaliseArgOperator("CelExpr") ?? {}), ["reason", "valid"]);
  assert.deepEqual(Object.keys(normaliseArgOperator("In") ?? {}), ["reason"]);
});

Deno.test("normaliseArgType() maps the sint/long/ulong aliases to canonical types", () => {
  const cases: Array<[string, string]> = [
    ["sint32", "int"],
    ["int32", "int"],
    ["int", "int"],
    ["sint8", "int8"],
    ["sint16", "int16"],
    ["long", "int64"],
    ["sint64", "int64"],
    ["int64", "int64"],
    ["ulong", "uint64"],
    ["uint64", "uint64"],
    ["size_t", "size_t"],
    ["sockaddr", "sockaddr"],
  ];
  for (const [written, canonical] of cases) assert.equal(normaliseArgType(written), canonical);
  assert.equal(normaliseArgType("Int"), undefined);
});

Deno.test("normaliseActionName() accepts any case, as Tetragon does", () => {
  assert.equal(normaliseActionName("sigkill"), "Sigkill");
  assert.equal(normaliseActionName("SIGKILL"), "Sigkill");
  assert.equal(normaliseActionName("nopost"), "NoPost");
  assert.equal(normaliseActionName("notifyenforcer"), "NotifyEnforcer");
  assert.equal(normaliseActionName("Kill"), undefined);
});

Deno.test("parseRateLimit() turns seconds, minutes and hours into milliseconds", () => {
  assert.equal(parseRateLimit("30"), 30_000);
  assert.equal(parseRateLimit("30s"), 30_000);
  assert.equal(parseRateLimit("5m"), 300_000);
  assert.equal(parseRateLimit("5M"), 300_000);
  assert.equal(parseRateLimit("1h"), 3_600_000);
  assert.equal(parseRateLimit("0"), 0);
  assert.equal(parseRateLimit("100000h"), 0xffff_ffff, "capped at u32 milliseconds");
  for (const bad of ["", "m", "1d", "-5", "1.5m", " 5m", "5 m", "0x10"]) {
    assert.equal(parseRateLimit(bad), undefined, bad);
  }
});

Deno.test("parsePolicy() normalises operator, type, action, namespace and capability aliases", () => {
  const policy = parseValid(withSpec(
    "  kprobes:",
    "  - call: sys_setuid",
    "    args:",
    "    - index: 0",
    "      type: sint32",
    "    selectors:",
    "    - matchArgs:",
    "      - index: 0",
    "        operator: eq",
    '        values: ["0"]',
    "      - index: 0",
    "        operator: GreaterThan",
    '        values: ["-1"]',
    "      matchNamespaces:",
    "      - namespace: mnt",
    "        operator: NotIn",
    '        values: ["host_ns"]',
    "      matchCapabilities:",
    "      - type: permitted",
    "        operator: In",
    "        values: [cap_setuid, CAP_SYS_ADMIN]",
    "      matchBinaries:",
    "      - operator: postfix",
    '        values: ["/su"]',
    "      matchActions:",
    "      - action: post",
    '        rateLimit: "5m"',
    "      - action: sigkill",
  ));
  const hook = policy.spec.kprobes[0];
  assert.ok(hook);
  assert.equal(hook.args[0]?.type, "int");
  assert.equal(hook.args[0]?.typeWritten, "sint32");
  const sel = hook.selectors[0];
  assert.ok(sel);
  assert.deepEqual(sel.matchArgs.map((m) => m.operator), ["Equal", "GT"]);
  assert.deepEqual(sel.matchArgs.map((m) => m.match), [
    { kind: "integers", values: [0n] },
    { kind: "integers", values: [-1n] },
  ]);
  assert.equal(sel.matchNamespaces[0]?.namespace, "Mnt");
  assert.deepEqual(sel.matchNamespaces[0]?.values, ["host_ns"]);
  assert.equal(sel.matchCapabilities[0]?.type, "Permitted");
  assert.deepEqual(sel.matchCapabilities[0]?.values, ["CAP_SETUID", "CAP_SYS_ADMIN"]);
  assert.equal(sel.matchCapabilities[0]?.mask, (1n << 7n) | (1n << 21n));
  assert.equal(sel.matchBinaries?.operator, "Postfix");
  assert.deepEqual(sel.matchActions.map((a) => a.action), ["Post", "Sigkill"]);
  const post = sel.matchActions[0];
  assert.ok(post?.action === "Post");
  assert.equal(post.rateLimitMs, 300_000);
  assert.equal(post.rateLimitScope, "thread");
});

Deno.test("parsePolicy() applies Tetragon's CRD defaults", () => {
  const policy = parseValid(withSpec(
    "  kprobes:",
    "  - call: sys_openat",
    "    selectors:",
    "    - matchCapabilities:",
    "      - operator: In",
    "        values: [CAP_SYS_ADMIN]",
    "      matchActions:",
    "      - action: Post",
  ));
  const hook = policy.spec.kprobes[0];
  assert.ok(hook);
  assert.equal(hook.syscall, true, "CRD default syscall: true");
  assert.equal(hook.return, false);
  assert.deepEqual(hook.targets, [{
    written: "sys_openat",
    syscall: { name: "openat", nr: 257, entry: "openat" },
  }]);
  assert.equal(hook.selectors[0]?.matchCapabilities[0]?.type, "Effective");
  assert.deepEqual(policy.spec.options, {
    policyMode: "enforce",
    disableKprobeMulti: false,
    disableUprobeMulti: false,
    raw: [],
  });
});

Deno.test("parsePolicy() warns when the default syscall: true meets a kernel function", () => {
  const result = parse(withSpec("  kprobes:", "  - call: fd_install"));
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.warnings.map((w) => [w.line, w.column, w.path, w.message]), [[
    7,
    11,
    "spec.kprobes[0].call",
    "syscall is true (Tetragon's CRD default), but 'fd_install' is not a syscall: set syscall: false for kernel functions",
  ]]);
  assert.equal(result.policy?.spec.kprobes[0]?.syscall, true, "the CRD default is kept");
  parseValid(withSpec("  kprobes:", "  - call: fd_install", "    syscall: false"));
});

Deno.test("parsePolicy() parses selector values per the arg's type", () => {
  const policy = parseValid(withSpec(
    "  kprobes:",
    "  - call: tcp_connect",
    "    syscall: false",
    "    args:",
    "    - index: 0",
    "      type: sock",
    "    selectors:",
    "    - matchArgs:",
    "      - {index: 0, operator: DPort, values: ['443', '8000:8080']}",
    "      - {index: 0, operator: DAddr, values: ['10.0.0.0/8', '::1']}",
    "      - {index: 0, operator: Protocol, values: [IPPROTO_TCP]}",
    "      - {index: 0, operator: State, values: [TCP_SYN_SENT]}",
    "      - {index: 0, operator: NotDPortPriv}",
  ));
  const args = policy.spec.kprobes[0]?.selectors[0]?.matchArgs ?? [];
  assert.deepEqual(args.map((a) => a.match), [
    { kind: "set", ranges: [[443, 443], [8000, 8080]] },
    {
      kind: "addresses",
      prefixes: [
        { family: 4, bytes: [10, 0, 0, 0], prefixLen: 8 },
        { family: 6, bytes: [...new Array(15).fill(0), 1], prefixLen: 128 },
      ],
    },
    { kind: "set", ranges: [[6, 6]] },
    { kind: "set", ranges: [[2, 2]] },
    { kind: "none" },
  ]);
});

Deno.test("parsePolicy() parses integer values with Go's base prefixes and type widths", () => {
  const policy = parseValid(withSpec(
    "  kprobes:",
    "  - call: sys_openat",
    "    args:",
    "    - {index: 2, type: int}",
    "    - {index: 3, type: uint64}",
    "    selectors:",
    "    - matchArgs:",
    "      - {index: 2, operator: Mask, values: ['0x40', '0o100', '0100', '0b1']}",
    "      - {index: 3, operator: InMap, values: ['1', '2:4', '18446744073709551615']}",
  ));
  const args = policy.spec.kprobes[0]?.selectors[0]?.matchArgs ?? [];
  assert.deepEqual(args[0]?.match, { kind: "integers", values: [64n, 64n, 64n, 1n] });
  assert.deepEqual(args[1]?.match, {
    kind: "inMap",
    values: [1n, 18446744073709551615n],
    ranges: [[2n, 4n]],
    lists: [],
  });
  assert.equal(args[1]?.argPos, 1);
});

Deno.test("parsePolicy() resolves tracepoint matchArgs by format index or by position", () => {
  const text = (index: number) =>
    withSpec(
      "  tracepoints:",
      "  - subsystem: raw_syscalls",
      "    event: sys_enter",
      "    args:",
      "    - {index: 4, type: syscall64}",
      "    - {index: 5}",
      "    selectors:",
      `    - matchArgs: [{index: ${index}, operator: Equal, values: ['59']}]`,
    );
  assert.equal(parseValid(text(4)).spec.tracepoints[0]?.selectors[0]?.matchArgs[0]?.argPos, 0);
  assert.equal(parseValid(text(5)).spec.tracepoints[0]?.selectors[0]?.matchArgs[0]?.argPos, 1);
  assert.equal(parseValid(text(0)).spec.tracepoints[0]?.selectors[0]?.matchArgs[0]?.argPos, 0);
  const auto = parseValid(text(5)).spec.tracepoints[0]?.selectors[0]?.matchArgs[0];
  assert.equal(auto?.argType, "auto");
  assert.deepEqual(auto?.match, { kind: "unresolved", values: ["59"] });
});
