import assert from "node:assert/strict";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import type { Policy } from "../../src/policy/spec/mod.ts";

const POLICIES = new URL("../../policies/", import.meta.url);
const EXPENSIVE = new URL("../fixtures/policy/file_deletion_expensive.yaml", import.meta.url);

function load(url: URL, file: string): Policy {
  const result = parsePolicy(Deno.readTextFileSync(url), file);
  assert.deepEqual(result.errors, [], `${file} has errors`);
  assert.deepEqual(result.warnings, [], `${file} has warnings`);
  assert.ok(result.policy);
  return result.policy;
}

function example(name: string): Policy {
  return load(new URL(name, POLICIES), `policies/${name}`);
}

Deno.test("parsePolicy() accepts every example in policies/ without errors or warnings", () => {
  const names = [...Deno.readDirSync(POLICIES)].map((e) => e.name).filter((n) =>
    n.endsWith(".yaml") || n.endsWith(".yml")
  );
  assert.ok(names.length >= 5, "the five examples are there");
  for (const name of names) {
    const text = Deno.readTextFileSync(new URL(name, POLICIES));
    assert.ok(text.startsWith("# "), `${name} starts with a header comment`);
    example(name);
  }
});

Deno.test("parsePolicy() reads file_deletion.yaml as one syscall hook per deletion syscall", () => {
  const policy = example("file_deletion.yaml");
  assert.equal(policy.name, "file-deletion");
  assert.deepEqual(policy.spec.tracepoints, []);
  const hooks = policy.spec.kprobes;
  assert.deepEqual(hooks.map((h) => h.syscall), [true, true, true]);
  assert.deepEqual(hooks.map((h) => h.targets.map((t) => t.syscall?.nr)), [[263], [87], [84]]);
  assert.deepEqual(hooks[0]?.args.map((a) => [a.index, a.type, a.label]), [
    [0, "int", "dirfd"],
    [1, "string", "pathname"],
    [2, "int", "flags"],
  ]);
  assert.deepEqual(hooks.map((h) => h.selectors.length), [0, 0, 0], "every deletion is posted");
});

Deno.test("parsePolicy() reads the expensive file-deletion fixture as raw_syscalls + InMap", () => {
  const policy = load(EXPENSIVE, "tests/fixtures/policy/file_deletion_expensive.yaml");
  const tp = policy.spec.tracepoints[0];
  assert.equal(`${tp?.subsystem}/${tp?.event}`, "raw_syscalls/sys_enter");
  assert.deepEqual(policy.spec.lists[0]?.syscalls?.map((s) => s.nr), [263, 87, 84]);
  const filter = tp?.selectors[0]?.matchArgs[0];
  assert.equal(filter?.operator, "InMap");
  assert.equal(filter?.argType, "syscall64");
  assert.deepEqual(filter?.match, {
    kind: "inMap",
    values: [],
    ranges: [],
    lists: [{ name: "deletion-syscalls", ids: [263, 87, 84] }],
  });
});

Deno.test("parsePolicy() reads etc_reads.yaml as Prefix filters with a rate limit", () => {
  const policy = example("etc_reads.yaml");
  for (const hook of policy.spec.kprobes) {
    const sel = hook.selectors[0];
    assert.equal(sel?.matchArgs[0]?.operator, "Prefix");
    assert.deepEqual(sel?.matchArgs[0]?.match, {
      kind: "strings",
      values: ["/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh/"],
    });
    const post = sel?.matchActions[0];
    assert.ok(post?.action === "Post");
    assert.equal(post.rateLimitMs, 60_000);
    assert.equal(post.rateLimitScope, "process");
  }
});

Deno.test("parsePolicy() reads kill_named_binary.yaml as a safe matchBinaries + Sigkill", () => {
  const policy = example("kill_named_binary.yaml");
  const sel = policy.spec.tracepoints[0]?.selectors[0];
  assert.deepEqual(sel?.matchBinaries?.values, ["/usr/local/bin/vigil-forbidden-demo"]);
  assert.equal(sel?.matchBinaries?.operator, "In");
  assert.deepEqual(sel?.matchActions.map((a) => a.action), ["Sigkill", "Post"]);
  let exists = true;
  try {
    Deno.statSync("/usr/local/bin/vigil-forbidden-demo");
  } catch {
    exists = false;
  }
  assert.equal(exists, false, "the example must only name a binary nobody has");
});

Deno.test("parsePolicy() reads connect_port.yaml as a sockaddr Family + SPort filter", () => {
  const policy = example("connect_port.yaml");
  const hook = policy.spec.kprobes[0];
  assert.equal(hook?.targets[0]?.syscall?.name, "connect");
  assert.equal(hook?.args[1]?.type, "sockaddr");
  assert.deepEqual(hook?.selectors[0]?.matchArgs.map((m) => [m.operator, m.match]), [
    ["Family", { kind: "set", ranges: [[2, 2], [10, 10]] }],
    ["SPort", { kind: "set", ranges: [[4444, 4444]] }],
  ]);
});

Deno.test("parsePolicy() reads privilege_change.yaml as uid-0 filters, one selector per arg", () => {
  const policy = example("privilege_change.yaml");
  assert.deepEqual(policy.spec.kprobes.map((h) => h.targets[0]?.syscall?.name), [
    "setuid",
    "setgid",
    "setreuid",
    "setresuid",
  ]);
  const setresuid = policy.spec.kprobes[3];
  assert.deepEqual(setresuid?.selectors.map((s) => s.matchArgs[0]?.argPos), [0, 1, 2]);
  assert.ok(
    policy.spec.kprobes.every((h) =>
      h.selectors.every((s) =>
        s.matchArgs[0]?.operator === "Equal" && s.matchArgs[0].values[0] === "0"
      )
    ),
  );
});
