import assert from "node:assert/strict";
import { POLICY_LIMITS } from "../../src/policy/vocab/mod.ts";
import { onlyError, parse, parseValid, withSpec } from "./_helpers.ts";

const PREFIX = "  kprobes:\n  - call: sys_openat\n    syscall: true\n    args:\n" +
  "    - index: 1\n      type: string\n    - index: 2\n      type: int\n";

/** A sys_openat kprobe (string arg index 1, int arg index 2) followed by `rest`. */
function openat(rest: string): string {
  return withSpec(PREFIX + rest);
}

function repeat(n: number, f: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => f(i)).join("");
}

function quoted(n: number, f: (i: number) => string): string {
  return `[${Array.from({ length: n }, (_, i) => JSON.stringify(f(i))).join(", ")}]`;
}

interface LimitCase {
  /** What is limited, for the test name. */
  readonly what: string;
  readonly limit: number;
  /** A policy with `n` of the limited thing. */
  readonly build: (n: number) => string;
  /** Path of the error at limit + 1. */
  readonly path: string;
  /** Its message. */
  readonly message: string;
}

const CASES: LimitCase[] = [
  {
    what: "selectors per hook",
    limit: POLICY_LIMITS.selectorsPerHook,
    build: (n) =>
      openat("    selectors:\n" + repeat(n, () => "    - matchActions: [{action: Post}]\n")),
    path: "spec.kprobes[0].selectors[5]",
    message: "at most 5 selectors per hook (Tetragon's limit); found 6",
  },
  {
    what: "matchArgs entries per selector",
    limit: POLICY_LIMITS.argFiltersPerSelector,
    build: (n) =>
      openat(
        "    selectors:\n    - matchArgs:\n" +
          repeat(n, (i) => `      - {index: 1, operator: Prefix, values: ["/${i}"]}\n`),
      ),
    path: "spec.kprobes[0].selectors[0].matchArgs[5]",
    message: "at most 5 matchArgs + matchData entries per selector (Tetragon's limit); found 6",
  },
  {
    what: "matchArgs + matchData entries per selector",
    limit: POLICY_LIMITS.argFiltersPerSelector,
    build: (n) =>
      openat(
        "    data:\n    - {index: 0, type: int, source: current_task, resolve: pid}\n" +
          "    selectors:\n    - matchArgs:\n" +
          repeat(n - 2, (i) => `      - {index: 1, operator: Prefix, values: ["/${i}"]}\n`) +
          "      matchData:\n" +
          repeat(2, (i) => `      - {index: 0, operator: Equal, values: ["${i}"]}\n`),
      ),
    path: "spec.kprobes[0].selectors[0].matchData[1]",
    message: "at most 5 matchArgs + matchData entries per selector (Tetragon's limit); found 6",
  },
  {
    what: "values per Equal entry on an integer arg",
    limit: POLICY_LIMITS.valuesPerIntegerEntry,
    build: (n) =>
      openat(
        "    selectors:\n    - matchArgs:\n" +
          `      - {index: 2, operator: Equal, values: ${quoted(n, String)}}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchArgs[0].values[4]",
    message: "at most 4 values per Equal entry on an integer arg (Tetragon's limit); found 5: " +
      "use InMap for more",
  },
  ...(["Mask", "GT", "LT"] as const).map((op): LimitCase => ({
    what: `values per ${op} entry`,
    limit: POLICY_LIMITS.valuesPerIntegerEntry,
    build: (n) =>
      openat(
        "    selectors:\n    - matchArgs:\n" +
          `      - {index: 2, operator: ${op}, values: ${quoted(n, (i) => String(i + 1))}}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchArgs[0].values[4]",
    message: `at most 4 values per ${op} entry (Tetragon's limit); found 5`,
  })),
  {
    what: "values per InRange entry",
    limit: POLICY_LIMITS.valuesPerIntegerEntry,
    build: (n) =>
      openat(
        "    selectors:\n    - matchArgs:\n" +
          `      - {index: 2, operator: InRange, values: ${
            quoted(n, (i) => `${i * 10}:${i * 10 + 5}`)
          }}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchArgs[0].values[4]",
    message: "at most 4 values per InRange entry (Tetragon's limit); found 5",
  },
  {
    what: "bytes per Prefix value",
    limit: POLICY_LIMITS.prefixMaxBytes,
    build: (n) =>
      openat(
        "    selectors:\n    - matchArgs:\n" +
          `      - {index: 1, operator: Prefix, values: ["/${"a".repeat(n - 1)}"]}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchArgs[0].values[0]",
    message: "Prefix values are limited to 256 bytes (Tetragon's limit); this one has 257",
  },
  {
    what: "bytes per Postfix value",
    limit: POLICY_LIMITS.postfixMaxBytes,
    build: (n) =>
      openat(
        "    selectors:\n    - matchArgs:\n" +
          `      - {index: 1, operator: Postfix, values: ["${"a".repeat(n)}"]}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchArgs[0].values[0]",
    message: "Postfix values are limited to 127 bytes (Tetragon's limit); this one has 128",
  },
  {
    what: "actions per selector",
    limit: POLICY_LIMITS.actionsPerSelector,
    build: (n) =>
      openat("    selectors:\n    - matchActions:\n" + repeat(n, () => "      - action: Post\n")),
    path: "spec.kprobes[0].selectors[0].matchActions[3]",
    message: "at most 3 actions per selector in matchActions (Tetragon's limit); found 4",
  },
  {
    what: "matchBinaries entries per selector",
    limit: POLICY_LIMITS.matchBinariesPerSelector,
    build: (n) =>
      openat(
        "    selectors:\n    - matchBinaries:\n" +
          repeat(n, (i) => `      - {operator: In, values: ["/bin/b${i}"]}\n`),
      ),
    path: "spec.kprobes[0].selectors[0].matchBinaries[1]",
    message:
      "only one matchBinaries entry per selector (Tetragon's limit); found 2: put the paths " +
      "in the values of one entry, or use one selector per entry",
  },
  {
    what: "bytes per matchBinaries path",
    limit: POLICY_LIMITS.binaryPathMaxBytes,
    build: (n) =>
      openat(
        "    selectors:\n    - matchBinaries:\n" +
          `      - {operator: In, values: ["/${"b".repeat(n - 1)}"]}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchBinaries[0].values[0]",
    message: "matchBinaries In paths are limited to 255 bytes (Tetragon's limit); this one has 256",
  },
  {
    what: "PIDs per matchPIDs entry",
    limit: POLICY_LIMITS.pidsPerEntry,
    build: (n) =>
      openat(
        "    selectors:\n    - matchPIDs:\n" +
          `      - {operator: NotIn, values: [${repeat(n, (i) => `${i ? ", " : ""}${i + 1}`)}]}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchPIDs[0].values[4]",
    message: "at most 4 PIDs per matchPIDs entry (Tetragon's limit); found 5",
  },
  {
    what: "values per matchNamespaces entry",
    limit: POLICY_LIMITS.namespaceValuesPerEntry,
    build: (n) =>
      openat(
        "    selectors:\n    - matchNamespaces:\n" +
          `      - {namespace: Mnt, operator: In, values: ${
            quoted(n, (i) => String(4026531840 + i))
          }}\n`,
      ),
    path: "spec.kprobes[0].selectors[0].matchNamespaces[0].values[4]",
    message: "at most 4 values per matchNamespaces entry (Tetragon's limit); found 5",
  },
  {
    what: "matchNamespaces entries per selector",
    limit: POLICY_LIMITS.namespaceEntriesPerSelector,
    build: (n) =>
      openat(
        "    selectors:\n    - matchNamespaces:\n" +
          repeat(n, () => `      - {namespace: Pid, operator: NotIn, values: ["host_ns"]}\n`),
      ),
    path: "spec.kprobes[0].selectors[0].matchNamespaces[10]",
    message: "at most 10 matchNamespaces entries per selector (Tetragon's limit); found 11",
  },
  {
    what: "tags per hook",
    limit: POLICY_LIMITS.tagsPerHook,
    build: (n) => openat(`    tags: ${quoted(n, (i) => `tag${i}`)}\n`),
    path: "spec.kprobes[0].tags[16]",
    message: "at most 16 tags per hook (Tetragon's limit); found 17",
  },
  {
    what: "args + data entries per hook",
    limit: POLICY_LIMITS.argsPerHook,
    build: (n) =>
      openat(
        "    data:\n" +
          repeat(n - 2, (i) =>
            `    - {index: ${i}, type: int, source: current_task, resolve: pid}\n`),
      ),
    path: "spec.kprobes[0].data[3]",
    message: "at most 5 args and data entries per hook (Tetragon's limit); found 6",
  },
  {
    what: "matchReturnArgs entries per selector",
    limit: POLICY_LIMITS.argFiltersPerSelector,
    build: (n) =>
      openat(
        "    return: true\n    returnArg: {index: 0, type: int}\n    selectors:\n" +
          "    - matchReturnArgs:\n" +
          repeat(n, (i) => `      - {index: 0, operator: NotEqual, values: ["${i}"]}\n`),
      ),
    path: "spec.kprobes[0].selectors[0].matchReturnArgs[5]",
    message: "at most 5 matchReturnArgs entries per selector (Tetragon's limit); found 6",
  },
  {
    what: "matchReturnActions per selector",
    limit: POLICY_LIMITS.actionsPerSelector,
    build: (n) =>
      openat(
        "    return: true\n    returnArg: {index: 0, type: int}\n    selectors:\n" +
          "    - matchReturnActions:\n" + repeat(n, () => "      - action: Post\n"),
      ),
    path: "spec.kprobes[0].selectors[0].matchReturnActions[3]",
    message: "at most 3 actions per selector in matchReturnActions (Tetragon's limit); found 4",
  },
  {
    what: "enforcers per policy",
    limit: POLICY_LIMITS.enforcersPerPolicy,
    build: (n) =>
      withSpec(
        "  enforcers:",
        ...Array.from({ length: n }, () => "  - calls: [sys_unlinkat]"),
        "  kprobes:",
        "  - call: sys_unlinkat",
      ),
    path: "spec.enforcers[1]",
    message: "at most 1 enforcer per policy (Tetragon's limit); found 2",
  },
];

for (const c of CASES) {
  Deno.test(`parsePolicy() accepts ${c.limit} ${c.what} and rejects ${c.limit + 1}`, () => {
    parseValid(c.build(c.limit));
    const error = onlyError(c.build(c.limit + 1));
    assert.equal(error.path, c.path);
    assert.equal(error.message, c.message);
  });
}

Deno.test("parsePolicy() truncates a message over 256 bytes with a warning, not an error", () => {
  parseValid(openat(`    message: "${"m".repeat(256)}"\n`));
  const result = parse(openat(`    message: "${"m".repeat(257)}"\n`));
  assert.deepEqual(result.errors, []);
  assert.equal(result.policy?.spec.kprobes[0]?.message, "m".repeat(256));
  assert.deepEqual(
    result.warnings.map((w) => [w.line, w.column, w.path, w.message]),
    [[14, 14, "spec.kprobes[0].message", "message is 257 bytes; truncated to 256"]],
  );
});

Deno.test("parsePolicy() truncates a multi-byte message on a character boundary", () => {
  const result = parse(openat(`    message: "${"é".repeat(200)}"\n`));
  assert.equal(result.policy?.spec.kprobes[0]?.message, "é".repeat(128));
});

Deno.test("parsePolicy() counts followChildren entries across the whole policy", () => {
  const hook = (i: number) =>
    `  - call: sys_openat\n    selectors:\n` +
    repeat(5, (j) =>
      `    - matchBinaries: [{operator: In, values: ["/b${i}-${j}"], followChildren: true}]\n`);
  parseValid(withSpec("  kprobes:\n" + repeat(12, hook)));
  const error = onlyError(withSpec("  kprobes:\n" + repeat(13, hook)));
  assert.equal(error.path, "spec.kprobes[12].selectors[4].matchBinaries[0].followChildren");
  assert.equal(error.message, "at most 64 matchBinaries entries with followChildren per policy");
});
