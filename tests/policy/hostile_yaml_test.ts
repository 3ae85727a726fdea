/**
 * Issue 14 items 1, 2 and 9 at the parser: hostile YAML gets one precise, located error in
 * bounded work (nesting, aliases, nodes, keys), ordinary anchors still work, and what is said
 * back is bounded whatever the text.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { POLICY_INPUT_LIMITS, POLICY_REPORT_LIMITS } from "../../src/policy/spec/input_limits.ts";
import type { PolicyIssue } from "../../src/policy/spec/types.ts";
import {
  aliasBomb,
  deepFlow,
  deepTags,
  friendlyAliases,
  hugeName,
  manyKeys,
  manyLongErrors,
} from "./_hostile.ts";
import { withSpec } from "./_helpers.ts";

function onlyError(text: string): PolicyIssue {
  const r = parsePolicy(text, "hostile.yaml");
  assert.equal(r.policy, undefined);
  assert.equal(r.errors.length, 1, JSON.stringify(r.errors).slice(0, 2000));
  return r.errors[0]!;
}

Deno.test("3,000 nested sequences under tags: a depth-limit error at the first level too deep", () => {
  const e = onlyError(deepTags(3000));
  // Line 10 holds the nesting; it starts at column 9, two columns per level.
  assert.equal(e.line, 10);
  assert.equal(e.column, 9 + 2 * (POLICY_INPUT_LIMITS.maxDepth - 3) + 1);
  assert.equal(e.message, "YAML nested more than 64 levels deep (vigil's limit)");
});

Deno.test("100,000 nested flow sequences: the same depth error, not a stack overflow", () => {
  const e = onlyError(deepFlow(100_000));
  assert.equal(e.line, 10);
  assert.match(e.message, /nested more than 64 levels/);
  assert.doesNotMatch(e.message, /call stack/);
});

Deno.test("nesting within the limit is read as usual", () => {
  // 40 levels: deeper than any real policy, within the limit: the usual type error.
  const e = onlyError(deepTags(40));
  assert.equal(e.path, "spec.kprobes[0].tags[0]");
  assert.match(e.message, /expected a string, got a list/);
});

Deno.test("an alias bomb is refused at the alias that crosses the expanded-node limit", () => {
  const e = onlyError(aliasBomb(900));
  assert.match(
    e.message,
    /^the document expands to more than 20000 YAML nodes with its aliases \(vigil's limit\)$/,
  );
  // Each `- *h` line is one hook of ~50 expanded nodes: the error is on one of them.
  assert.ok(e.line > 30 && e.line < 900, `line ${e.line}`);
  assert.equal(e.column, 5);
});

Deno.test("ordinary anchors and aliases read as if written out", () => {
  const r = parsePolicy(friendlyAliases(), "friendly.yaml");
  assert.deepEqual(r.errors, []);
  const hooks = r.policy!.spec.kprobes;
  assert.equal(hooks.length, 2);
  assert.deepEqual(
    hooks[0]!.selectors.map((s) => s.matchArgs[0]?.values),
    [["/etc/shadow", "/etc/sudoers"], ["/etc/shadow", "/etc/sudoers"]],
  );
  assert.equal(hooks[1]!.args[0]!.label, "pathname");
});

Deno.test("an alias that contains itself, and an alias without an anchor, are located errors", () => {
  const cycle = onlyError(withSpec("  kprobes: &k", "  - *k"));
  assert.deepEqual([cycle.line, cycle.column], [7, 5]);
  assert.equal(cycle.message, "alias *k refers to a node that contains it");
  const unknown = onlyError(withSpec("  kprobes:", "  - *nowhere"));
  assert.deepEqual([unknown.line, unknown.column], [7, 5]);
  assert.equal(unknown.message, "alias *nowhere has no anchor &nowhere before it");
});

Deno.test("more aliases than the limit are refused at the first one over", () => {
  const n = POLICY_INPUT_LIMITS.maxAliases + 1;
  const text = withSpec("  kprobes:", "  - &h {call: sys_openat, syscall: true}") +
    "  - *h\n".repeat(n);
  const e = onlyError(text);
  assert.equal(
    e.message,
    `more than ${POLICY_INPUT_LIMITS.maxAliases} YAML aliases (vigil's limit)`,
  );
  assert.equal(e.line, 7 + n);
});

Deno.test("20,000 unknown keys: one node-limit error, not 20,000 errors", () => {
  const e = onlyError(manyKeys(20_000));
  assert.match(e.message, /^more than 20000 YAML nodes/);
});

Deno.test("a mapping over the key limit is one error at the first key too many", () => {
  const e = onlyError(manyKeys(POLICY_INPUT_LIMITS.maxKeysPerMapping + 5));
  assert.equal(e.message, "a mapping with 1005 keys (vigil's limit is 1000)");
  // spec: is line 5, its first key line 6.
  assert.equal(e.line, 6 + POLICY_INPUT_LIMITS.maxKeysPerMapping);
});

Deno.test("a duplicate key is found without comparing every pair (1,000 keys)", () => {
  const keys = Array.from({ length: 999 }, (_, i) => `  k${i}: 1`);
  const e = parsePolicy(withSpec(...keys, "  k7: 2"), "dup.yaml").errors;
  assert.equal(e.length, 1);
  assert.deepEqual([e[0]!.line, e[0]!.message], [
    6 + 999,
    'duplicate key "k7": keys of a mapping must be unique',
  ]);
});

Deno.test("a text over the byte limit is refused before it is parsed", () => {
  const e = onlyError(withSpec("  kprobes: []") + "#".repeat(POLICY_INPUT_LIMITS.maxBytes));
  assert.deepEqual([e.line, e.column], [1, 1]);
  assert.match(e.message, /vigil's limit is 1048576/);
});

Deno.test("errors are bounded: the first 100, each cut, then how many more", () => {
  const r = parsePolicy(manyLongErrors(999, 1000), "long.yaml");
  assert.equal(r.errors.length, POLICY_REPORT_LIMITS.maxIssues + 1);
  for (const e of r.errors) {
    assert.ok(e.message.length <= POLICY_REPORT_LIMITS.maxIssueChars, e.message.length.toString());
    assert.ok(e.path.length <= POLICY_REPORT_LIMITS.maxIssueChars);
  }
  assert.equal(r.errors.at(-1)!.message, "and 899 more errors (only the first 100 are shown)");
  assert.ok(JSON.stringify(r.errors).length < 70_000);
});

Deno.test("a 1 MiB name is quoted back cut, never whole", () => {
  const text = hugeName();
  const r = parsePolicy(text, "huge.yaml");
  assert.equal(r.policy, undefined);
  const body = JSON.stringify(r.errors);
  assert.ok(body.length < 2_000, `${body.length} bytes of errors for a ${text.length}-byte text`);
  assert.equal(r.errors[0]!.path, "metadata.name");
});
