/**
 * The share of the public Tetragon policy sample (tests/fixtures/policy/tetragon_corpus) that
 * `vigil policy check` judges valid and runnable on THIS kernel, with the reasons the others
 * cannot run, grouped. Prints numbers; asserts nothing (the corpus test asserts validity).
 *
 *   deno run --allow-all bench/tetragon_corpus.ts [--json]
 *   deno task lab --kernel 6.12 -- deno run --allow-all bench/tetragon_corpus.ts
 *
 * @module
 */

import { print } from "./_lib.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CORPUS = "tests/fixtures/policy/tetragon_corpus";

interface FileResult {
  file: string;
  valid: boolean;
  runnable: boolean;
  reason?: string;
  errors: unknown[];
}

const files = [...Deno.readDirSync(`${ROOT}${CORPUS}`)]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".yaml"))
  .sort()
  .map((n) => `${CORPUS}/${n}`);
const out = new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-all", "main.ts", "policy", "check", "--json", ...files],
  cwd: ROOT,
  stdout: "piped",
  stderr: "piped",
}).outputSync();
const report = JSON.parse(new TextDecoder().decode(out.stdout)) as {
  kernel?: { release?: string };
  files: FileResult[];
};
const invalid = report.files.filter((f) => !f.valid);
const runnable = report.files.filter((f) => f.runnable);
/** The reason without file-specific detail: the first clause, hook names generalised. */
function family(reason: string): string {
  return reason
    .replace(/^spec\.[a-z]+\[\d+\](\.[^:]*)?: /, "")
    .replace(/ \(and \d+ more errors?\)$/, "")
    .replace(/^(kprobe|LSM hook|fentry) on [^ ]+|^LSM hook [^ ]+/, "$1 <fn>")
    .replace(/ \((arg \d+|the return value) of [^)]*\)/, "")
    .slice(0, 140);
}
const reasons = new Map<string, number>();
for (const f of report.files) {
  if (f.valid && !f.runnable) {
    const key = family(f.reason ?? "?");
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }
}
const pct = (n: number) => `${(100 * n / Math.max(1, report.files.length)).toFixed(0)} %`;
if (Deno.args.includes("--json")) {
  print(JSON.stringify({
    kernel: report.kernel?.release ?? Deno.osRelease(),
    files: report.files.length,
    invalid: invalid.map((f) => f.file),
    runnable: runnable.map((f) => f.file),
  }));
} else {
  print(`kernel ${report.kernel?.release ?? Deno.osRelease()}: ${report.files.length} files`);
  print(`invalid   ${invalid.length} (${pct(invalid.length)})`);
  print(`runnable  ${runnable.length} (${pct(runnable.length)})`);
  for (const f of invalid) print(`  INVALID ${f.file}: ${JSON.stringify(f.errors[0])}`);
  print("not runnable, by first reason:");
  for (const [r, n] of [...reasons].sort((a, b) => b[1] - a[1])) print(`  ${n}× ${r}`);
}
