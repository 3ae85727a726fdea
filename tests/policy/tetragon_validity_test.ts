/**
 * Valid Tetragon that vigil cannot run stays valid: the parser accepts it and the plan says
 * "not runnable" with a reason naming what is missing — never "invalid", never a silent zero.
 *
 * @module
 */

import assert from "node:assert/strict";
import { kernelArgRead } from "../../src/policy/plan/args_kernel.ts";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import type { PlanFacts, PolicyPlan } from "../../src/policy/plan/mod.ts";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { ARG_TYPES } from "../../src/policy/vocab/mod.ts";
import { withSpec } from "./_helpers.ts";
import { errorMessages, EVERYTHING_KERNEL, facts, FULL_ENGINE } from "./plan_fixtures.ts";

const EVERYTHING: PlanFacts = facts({ features: EVERYTHING_KERNEL, engine: FULL_ENGINE });

/** Parses (asserting no errors) and plans on a kernel where every mechanism works. */
function planValid(text: string, f: PlanFacts = EVERYTHING): PolicyPlan {
  const r = parsePolicy(text, "test.yaml");
  assert.deepEqual(r.errors.map((e) => `${e.path}: ${e.message}`), [], "expected a valid policy");
  assert.ok(r.policy);
  return planPolicy(r.policy, f);
}

function assertNotRunnable(plan: PolicyPlan, reason: RegExp): void {
  assert.equal(plan.runnable, false);
  assert.match(errorMessages(plan).join("\n"), reason);
}

Deno.test("a number or boolean where Tetragon's Go type is a string is read as its text", () => {
  const text = withSpec(
    "  kprobes:",
    "  - call: sys_dup",
    "    syscall: true",
    "    args:",
    "    - index: 0",
    "      type: int",
    "    selectors:",
    "    - matchArgs:",
    "      - index: 0",
    "        operator: Equal",
    "        values: [2, 0x10]",
    "      matchActions:",
    "      - action: Post",
    "        rateLimit: 5",
  );
  const r = parsePolicy(text, "test.yaml");
  assert.deepEqual(r.errors, []);
  const filter = r.policy?.spec.kprobes[0]?.selectors[0]?.matchArgs[0];
  assert.deepEqual(filter?.values, ["2", "0x10"]);
});

Deno.test("spec.usdts is valid, not runnable, with the reason (and a typo in it is invalid)", () => {
  const usdt = [
    "  usdts:",
    '  - path: "/usr/bin/app"',
    "    provider: test",
    "    name: probe1",
    "    args:",
    "    - index: 0",
    "      type: uint64",
  ];
  assertNotRunnable(planValid(withSpec(...usdt)), /usdts.*vigil's engine has no USDT program/);
  const typo = parsePolicy(withSpec(...usdt, "    provder: x"), "test.yaml");
  assert.match(typo.errors.map((e) => e.message).join("\n"), /unknown field "provder"/);
});

Deno.test("CelExpr and matchCEL are valid, not runnable", () => {
  const plan = planValid(withSpec(
    "  kprobes:",
    "  - call: sys_dup",
    "    syscall: true",
    "    args:",
    "    - index: 0",
    "      type: int",
    "    selectors:",
    "    - matchArgs:",
    "      - index: 0",
    "        operator: CelExpr",
    '        values: ["arg0 > 2"]',
    "    - matchCEL: ['true']",
  ));
  const messages = errorMessages(plan).join("\n");
  assert.match(messages, /operator CelExpr .* valid Tetragon.*not runnable/);
  assert.match(messages, /matchCEL .* valid Tetragon.*not runnable/);
});

Deno.test("32-bit syscalls (i386/sys_*, __ia32_sys_*) are valid, not runnable, said precisely", () => {
  const plan = planValid(withSpec(
    "  lists:",
    "  - name: dups",
    "    type: syscalls",
    '    values: ["sys_dup", "i386/sys_dup"]',
    "  kprobes:",
    '  - call: "__ia32_sys_dup2"',
    "    syscall: true",
    '  - call: "list:dups"',
    "    syscall: true",
  ));
  const messages = errorMessages(plan);
  assert.ok(
    messages.some((m) =>
      m.startsWith("spec.lists[0].values[1]: 'i386/sys_dup' is a 32-bit (ia32) syscall")
    ),
    messages.join("\n"),
  );
  assert.ok(messages.some((m) => m.startsWith("spec.kprobes[0].call: '__ia32_sys_dup2'")));
  assert.match(messages.join("\n"), /i386 numbers, which vigil has no table for yet/);
});

Deno.test("InMap over a syscall list applies to any integer arg, as in Tetragon", () => {
  const plan = planValid(
    withSpec(
      "  lists:",
      "  - name: dups",
      "    type: syscalls",
      "    values: [sys_dup, sys_dup2]",
      "  tracepoints:",
      "  - subsystem: raw_syscalls",
      "    event: sys_enter",
      "    args:",
      "    - index: 4",
      "      type: uint64",
      "    selectors:",
      "    - matchArgs:",
      "      - index: 4",
      "        operator: InMap",
      '        values: ["list:dups"]',
    ),
    facts(),
  );
  assert.equal(plan.runnable, true, plan.reason ?? "");
});

/** Read by bpf/lib/args_file.h (tests/policy/plan_args_file_test.ts). */
const FILE_FAMILY: readonly string[] = [
  "file",
  "path",
  "dentry",
  "linux_binprm",
  "kiocb",
  "filename",
  "char_iovec",
  "iov_iter",
];

Deno.test("every Tetragon arg type parses; one the engine cannot read is named in the reason", () => {
  // Types a kernel function hands over that the engine does not decode yet.
  const unread = ARG_TYPES.filter((t) =>
    !["auto", "nop", "fd", "string", "sockaddr", "char_buf", "syscall64", "data_loc", "bpf_cmd"]
      .includes(t) &&
    !/^u?int(8|16|32|64)?$/.test(t) && t !== "size_t" &&
    kernelArgRead(t) === undefined && !FILE_FAMILY.includes(t)
  );
  assert.ok(unread.includes("const_buf") && !unread.includes("sock") && unread.includes("dns"));
  for (const type of unread) {
    const plan = planValid(withSpec(
      "  kprobes:",
      "  - call: fd_install",
      "    syscall: false",
      "    args:",
      "    - index: 1",
      `      type: ${type}`,
    ));
    assertNotRunnable(
      plan,
      new RegExp(`type ${type} is valid Tetragon, but vigil's engine cannot read .* not runnable`),
    );
  }
});

Deno.test("resolve:, btfType and data[] parse; the engine says why it cannot read them", () => {
  const plan = planValid(withSpec(
    "  kprobes:",
    "  - call: security_bprm_check",
    "    syscall: false",
    "    args:",
    "    - index: 0",
    "      type: int",
    '      resolve: "mm.owner.pid"',
    "      btfType: linux_binprm",
    "    data:",
    "    - index: 0",
    "      type: string",
    "      source: current_task",
    '      resolve: "comm"',
  ));
  assertNotRunnable(plan, /resolve \(mm\.owner\.pid\) walks kernel structures through BTF/);
});

Deno.test("TrackSock, GetUrl, DnsLookup and NotifyEnforcer parse and are refused with a reason", () => {
  const plan = planValid(withSpec(
    "  enforcers:",
    "  - calls: [sys_dup]",
    "  kprobes:",
    "  - call: sk_alloc",
    "    syscall: false",
    "    return: true",
    "    returnArg:",
    "      index: 0",
    "      type: sock",
    "    returnArgAction: TrackSock",
    "    selectors:",
    "    - matchActions:",
    "      - action: GetUrl",
    "        argUrl: http://example.invalid",
    "      - action: DnsLookup",
    "        argFqdn: example.invalid",
    "      - action: NotifyEnforcer",
    "        argError: -1",
  ));
  assert.equal(plan.runnable, false);
  const messages = errorMessages(plan).join("\n");
  assert.match(messages, /returnArgAction TrackSock .* socket-to-process map/);
  assert.match(messages, /GetUrl|DnsLookup/);
  assert.match(messages, /NotifyEnforcer with argError -1/);
});
