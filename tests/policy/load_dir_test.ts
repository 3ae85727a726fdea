import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPolicyDir } from "../../src/policy/spec/mod.ts";
import { withSpec } from "./_helpers.ts";

function named(name: string, ...specLines: string[]): string {
  return withSpec(...specLines).replace("name: test", `name: ${name}`);
}

async function withDir(
  files: Record<string, string>,
  f: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vigil-policy-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(dir, name), text);
    }
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadPolicyDir() isolates a broken file: the others still load", async () => {
  await withDir({
    "a_good.yaml": named("good-a", "  kprobes:", "  - call: sys_unlink"),
    "b_broken.yaml": named("broken", "  kprobes:", "  - call: sys_unlink", "    bogus: 1"),
    "c_syntax.yml": "apiVersion: [\n",
    "d_good.yml": named("good-d", "  kprobes:", "  - call: sys_rmdir"),
    "notes.txt": "not a policy",
  }, async (dir) => {
    const results = await loadPolicyDir(dir);
    assert.deepEqual(
      results.map((r) => [r.file.slice(dir.length + 1), r.policy?.name ?? null, r.errors.length]),
      [
        ["a_good.yaml", "good-a", 0],
        ["b_broken.yaml", null, 1],
        ["c_syntax.yml", null, 1],
        ["d_good.yml", "good-d", 0],
      ],
    );
    const broken = results[1]?.errors[0];
    assert.deepEqual(
      broken && [broken.file, broken.line, broken.column, broken.path],
      [join(dir, "b_broken.yaml"), 8, 5, "spec.kprobes[0].bogus"],
    );
  });
});

Deno.test("loadPolicyDir() rejects a second policy with a name already used", async () => {
  await withDir({
    "one.yaml": named("same", "  kprobes:", "  - call: sys_unlink"),
    "two.yaml": named("same", "  kprobes:", "  - call: sys_rmdir"),
  }, async (dir) => {
    const [one, two] = await loadPolicyDir(dir);
    assert.equal(one?.policy?.name, "same");
    assert.equal(two?.policy, undefined);
    assert.deepEqual(two?.errors.map((e) => [e.line, e.column, e.path, e.message]), [
      [4, 9, "metadata.name", `policy name "same" is already used by ${join(dir, "one.yaml")}`],
    ]);
  });
});

Deno.test("loadPolicyDir() reports an unreadable file as that file's error", async () => {
  await withDir({ "ok.yaml": named("ok", "  kprobes:", "  - call: sys_unlink") }, async (dir) => {
    await Deno.symlink(join(dir, "missing-target"), join(dir, "dangling.yaml"));
    const results = await loadPolicyDir(dir);
    assert.equal(results.length, 2);
    assert.match(results[0]?.errors[0]?.message ?? "", /^cannot read the file: /);
    assert.equal(results[1]?.policy?.name, "ok");
  });
});

Deno.test("loadPolicyDir() throws when the directory itself cannot be read", async () => {
  await assert.rejects(
    () => loadPolicyDir("/nonexistent/vigil-policies"),
    /read policy directory \/nonexistent\/vigil-policies: /,
  );
});

Deno.test("loadPolicyDir() loads the default policies/ directory cleanly", async () => {
  const dir = new URL("../../policies", import.meta.url).pathname;
  const results = await loadPolicyDir(dir);
  assert.ok(results.length >= 5);
  for (const r of results) {
    assert.deepEqual(r.errors, [], r.file);
    assert.deepEqual(r.warnings, [], r.file);
    assert.ok(r.policy, r.file);
  }
});
