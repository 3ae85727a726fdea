import assert from "node:assert/strict";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { onlyError, parse, withSpec } from "./_helpers.ts";
import { INVALID_CASES } from "./_invalid_cases.ts";

for (const c of INVALID_CASES) {
  Deno.test(`parsePolicy() reports ${c.name} with line, column and path`, () => {
    const error = onlyError(c.text);
    assert.deepEqual(
      { line: error.line, column: error.column, path: error.path, message: error.message },
      { line: c.line, column: c.column, path: c.path, message: c.message },
    );
    assert.equal(error.file, "test.yaml");
  });
}

const FIXTURES = new URL("../fixtures/policy/invalid/", import.meta.url);

/** Each fixture in tests/fixtures/policy/invalid/ and the one error it must produce. */
const FIXTURE_ERRORS: Record<
  string,
  { line: number; column: number; path: string; message: string }
> = {
  "bad_name.yaml": {
    line: 5,
    column: 9,
    path: "metadata.name",
    message: `"bad_name" is not a valid DNS subdomain: lower-case letters, digits, '-' and '.', ` +
      `starting and ending with a letter or digit, at most 253 characters (try "bad-name")`,
  },
  "unknown_field.yaml": {
    line: 16,
    column: 9,
    path: "spec.kprobes[0].selectors[0].matchArgs[0].operater",
    message: `unknown field "operater" (did you mean "operator"?)`,
  },
  "too_many_selectors.yaml": {
    line: 19,
    column: 7,
    path: "spec.kprobes[0].selectors[5]",
    message: "at most 5 selectors per hook (Tetragon's limit); found 6",
  },
  "two_match_binaries.yaml": {
    line: 14,
    column: 9,
    path: "spec.tracepoints[0].selectors[0].matchBinaries[1]",
    message:
      "only one matchBinaries entry per selector (Tetragon's limit); found 2: put the paths " +
      "in the values of one entry, or use one selector per entry",
  },
  "syntax_error.yaml": {
    line: 5,
    column: 1,
    path: "",
    message: "YAML syntax error: Tabs are not allowed as indentation",
  },
  "multiple_documents.yaml": {
    line: 10,
    column: 1,
    path: "",
    message: "2 YAML documents in one file: vigil reads one policy per file; put each policy in " +
      "its own file",
  },
  "raw_syscalls_missing_list.yaml": {
    line: 17,
    column: 18,
    path: "spec.tracepoints[0].selectors[0].matchArgs[0].values[0]",
    message: `list 'list:deletion-syscalls' not found: spec.lists has no entry named ` +
      `"deletion-syscalls"`,
  },
};

Deno.test("parsePolicy() reports the expected error for every invalid fixture", () => {
  const names = [...Deno.readDirSync(FIXTURES)].map((e) => e.name).filter((n) =>
    n.endsWith(".yaml")
  )
    .sort();
  assert.deepEqual(names, Object.keys(FIXTURE_ERRORS).sort(), "every fixture has an expectation");
  for (const name of names) {
    const file = `tests/fixtures/policy/invalid/${name}`;
    const result = parsePolicy(Deno.readTextFileSync(new URL(name, FIXTURES)), file);
    assert.equal(result.policy, undefined, name);
    assert.deepEqual(
      result.errors.map((e) => ({
        line: e.line,
        column: e.column,
        path: e.path,
        message: e.message,
      })),
      [FIXTURE_ERRORS[name]],
      name,
    );
    assert.ok(result.errors.every((e) => e.file === file));
  }
});

Deno.test("parsePolicy() reports every error of a file, sorted by position", () => {
  const result = parse(withSpec(
    "  kprobes:",
    "  - call: sys_openat",
    "    args:",
    "    - index: 7",
    "      type: strng",
    "    selectors:",
    "    - matchActions:",
    "      - action: Sigkil",
  ));
  assert.deepEqual(
    result.errors.map((e) => [e.line, e.column, e.path]),
    [
      [9, 14, "spec.kprobes[0].args[0].index"],
      [10, 13, "spec.kprobes[0].args[0].type"],
      [13, 17, "spec.kprobes[0].selectors[0].matchActions[0].action"],
    ],
  );
  assert.equal(result.errors[2]?.message, `unknown action "Sigkil" (did you mean "Sigkill"?)`);
});

Deno.test("parsePolicy() reports a misspelt required field once, not also as missing", () => {
  const error = onlyError(withSpec("  kprobes:", "  - cal: sys_openat"));
  assert.equal(error.message, `unknown field "cal" (did you mean "call"?)`);
});

Deno.test("parsePolicy() keeps checking the first document when a file has several", () => {
  const result = parse(
    withSpec("  kprobes:", "  - call: sys_openat", "    syscal: true") + "---\nfoo: 1\n",
  );
  assert.deepEqual(result.errors.map((e) => e.line), [8, 9]);
});
