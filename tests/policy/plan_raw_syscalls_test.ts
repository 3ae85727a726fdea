/**
 * The raw_syscalls rewrite: when every selector restricts the syscall id, a raw_syscalls hook is
 * split into per-syscall tracepoints with the same events; otherwise it stays, with a warning.
 */
import assert from "node:assert/strict";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import type { PolicyPlan } from "../../src/policy/plan/mod.ts";
import { facts, onlyHook, planSpec, policyFile } from "./plan_fixtures.ts";

const LISTS = [
  "  lists:",
  "  - name: dels",
  "    type: syscalls",
  "    values: [sys_unlinkat, sys_unlink, sys_rmdir]",
];

/** A raw_syscalls/<event> hook reading the id (and the pid), with these selector lines. */
function raw(selectors: string[], event = "sys_enter"): PolicyPlan {
  return planSpec([
    ...LISTS,
    "  tracepoints:",
    "  - subsystem: raw_syscalls",
    `    event: ${event}`,
    "    args:",
    "    - index: 4",
    "      type: syscall64",
    "    - index: 3",
    "      type: int",
    ...(selectors.length === 0 ? [] : ["    selectors:", ...selectors]),
  ]);
}

function assertKept(plan: PolicyPlan, reason: RegExp): void {
  const hook = onlyHook(plan);
  assert.equal(hook.mechanism, "tracepoint");
  assert.deepEqual(hook.attach, {
    kind: "tracepoint",
    subsystem: "raw_syscalls",
    event: "sys_enter",
  });
  assert.equal(hook.cost.class, "every-syscall");
  assert.match(hook.why, reason);
  const warning = plan.warnings.map((w) => w.message).join("\n");
  assert.match(
    warning,
    /runs this hook's program on every syscall of every task \(the field's 400%-CPU pattern\)/,
  );
  assert.match(warning, reason);
}

Deno.test("planPolicy() splits the expensive file-deletion policy into three syscall tracepoints", () => {
  const plan = planPolicy(
    policyFile("tests/fixtures/policy/file_deletion_expensive.yaml"),
    facts(),
  );
  assert.equal(plan.runnable, true, String(plan.reason));
  assert.deepEqual(plan.warnings, []);
  assert.deepEqual(
    plan.hooks.map((h) => [h.attach, h.mechanism, h.rewrittenFrom, h.source.target]),
    [
      [
        { kind: "tracepoint", subsystem: "syscalls", event: "sys_enter_rmdir" },
        "syscall_tracepoint",
        "raw_syscalls/sys_enter",
        "rmdir",
      ],
      [
        { kind: "tracepoint", subsystem: "syscalls", event: "sys_enter_unlink" },
        "syscall_tracepoint",
        "raw_syscalls/sys_enter",
        "unlink",
      ],
      [
        { kind: "tracepoint", subsystem: "syscalls", event: "sys_enter_unlinkat" },
        "syscall_tracepoint",
        "raw_syscalls/sys_enter",
        "unlinkat",
      ],
    ],
  );
  for (const h of plan.hooks) {
    assert.equal(h.cost.class, "syscall-slow-path");
    // The id is read from the per-syscall record's __syscall_nr, exported as before.
    assert.deepEqual(h.args.map((a) => [a.field, a.kind, a.ctxOffset, a.size, a.json]), [
      ["__syscall_nr", "VIGIL_ARG_SYSCALL_ID", 8, 4, "syscall_id"],
    ]);
    // The id filter is gone; the selector (and its Post) stays.
    assert.deepEqual(h.selectors.map((s) => [s.index, s.argFilters.length, s.actions[0]?.kind]), [
      [0, 0, "VIGIL_ACT_POST"],
    ]);
    // Events still say raw_syscalls/sys_enter, as the policy was written.
    assert.equal(h.event.kind, "process_tracepoint");
    assert.equal(`${h.event.subsys}/${h.event.event}`, "raw_syscalls/sys_enter");
    assert.match(
      h.why,
      /^split from raw_syscalls\/sys_enter: every selector restricts the syscall id .* to \{rmdir, unlink, unlinkat\}/,
    );
  }
});

Deno.test("planPolicy() keeps first-match order and other filters when splitting", () => {
  const plan = raw([
    "    - matchArgs:",
    "      - index: 4",
    "        operator: Equal",
    '        values: ["263"]',
    "      - index: 3",
    "        operator: Equal",
    '        values: ["1"]',
    "    - matchArgs:",
    "      - index: 4",
    "        operator: InMap",
    '        values: ["list:dels"]',
    "      - index: 4",
    "        operator: NotEqual",
    '        values: ["87"]',
    "      matchActions:",
    "      - action: NoPost",
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  assert.deepEqual(
    plan.hooks.map((h) => [
      h.attach?.kind === "tracepoint" ? h.attach.event : "",
      h.selectors.map((s) => [s.index, s.argFilters.map((f) => [f.arg, f.op]), s.actions[0]?.kind]),
    ]),
    [
      // unlink (87) is excluded by selector 1's NotEqual, and selector 0 wants only 263.
      ["sys_enter_rmdir", [[1, [], "VIGIL_ACT_NOPOST"]]],
      ["sys_enter_unlinkat", [
        [0, [[1, "VIGIL_MATCH_EQ"]], "VIGIL_ACT_POST"],
        [1, [], "VIGIL_ACT_NOPOST"],
      ]],
    ],
  );
});

Deno.test("planPolicy() splits raw_syscalls/sys_exit onto sys_exit_* with the ret field", () => {
  const plan = planSpec([
    ...LISTS,
    "  tracepoints:",
    "  - subsystem: raw_syscalls",
    "    event: sys_exit",
    "    args:",
    "    - index: 4",
    "      type: syscall64",
    "    - index: 5",
    "      type: int64",
    "    selectors:",
    "    - matchArgs:",
    "      - index: 4",
    "        operator: InMap",
    '        values: ["list:dels"]',
    "      - index: 5",
    "        operator: LT",
    '        values: ["0"]',
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  assert.deepEqual(plan.hooks.map((h) => h.attach?.kind === "tracepoint" && h.attach.event), [
    "sys_exit_rmdir",
    "sys_exit_unlink",
    "sys_exit_unlinkat",
  ]);
  assert.deepEqual(plan.hooks[0]?.args.map((a) => [a.field, a.ctxOffset, a.kind]), [
    ["__syscall_nr", 8, "VIGIL_ARG_SYSCALL_ID"],
    ["ret", 16, "VIGIL_ARG_INT"],
  ]);
  assert.deepEqual(plan.hooks[0]?.selectors[0]?.argFilters.map((f) => [f.arg, f.op]), [
    [1, "VIGIL_MATCH_LT"],
  ]);
});

Deno.test("planPolicy() keeps raw_syscalls when a selector has only NotInMap on the id", () => {
  assertKept(
    raw([
      "    - matchArgs:",
      "      - index: 4",
      "        operator: NotInMap",
      '        values: ["list:dels"]',
    ]),
    /selector 0 does not restrict the syscall id to a set .*NotInMap\/NotEqual alone lets every other syscall through/,
  );
});

Deno.test("planPolicy() keeps raw_syscalls when one selector does not filter the id", () => {
  assertKept(
    raw([
      "    - matchArgs:",
      "      - index: 4",
      "        operator: InMap",
      '        values: ["list:dels"]',
      "    - matchArgs:",
      "      - index: 3",
      "        operator: Equal",
      '        values: ["1"]',
    ]),
    /selector 1 does not restrict the syscall id to a set \(no InMap, Equal or InRange on it\), so it can match any syscall/,
  );
});

Deno.test("planPolicy() keeps raw_syscalls without selectors, or with GT on the id", () => {
  assertKept(raw([]), /it has no selectors, so every syscall is posted/);
  assertKept(
    raw([
      "    - matchArgs:",
      "      - index: 4",
      "        operator: GT",
      '        values: ["300"]',
    ]),
    /selector 0 compares the syscall id with GT, which a per-syscall split cannot express exactly/,
  );
});

Deno.test("planPolicy() keeps raw_syscalls when a listed syscall has no tracepoint here", () => {
  assertKept(
    raw([
      "    - matchArgs:",
      "      - index: 4",
      "        operator: InMap",
      '        values: ["263", "316"]',
    ]),
    /syscall renameat2 \(316\) has no tracepoint to split onto: this kernel has no tracepoint syscalls\/sys_enter_renameat2/,
  );
});

Deno.test("planPolicy() keeps raw_syscalls when an arg reads the args array", () => {
  const plan = planSpec([
    "  tracepoints:",
    "  - subsystem: raw_syscalls",
    "    event: sys_enter",
    "    args:",
    "    - index: 4",
    "      type: syscall64",
    "    - index: 5",
    "      type: uint64",
    "    selectors:",
    "    - matchArgs:",
    "      - index: 4",
    "        operator: Equal",
    '        values: ["263"]',
  ]);
  assert.match(
    plan.hooks[0]?.why ?? "",
    /args\[1\] reads field "args" of raw_syscalls\/sys_enter, which the per-syscall tracepoints do not have/,
  );
  assert.equal(plan.runnable, false, "and the array itself cannot be read");
});
