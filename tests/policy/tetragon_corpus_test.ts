/**
 * The public Tetragon policy sample (tests/fixtures/policy/tetragon_corpus): Tetragon accepts
 * every file, so vigil must judge none invalid — whatever it can run. The share runnable on a
 * kernel is printed by bench/tetragon_corpus.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parsePolicy } from "../../src/policy/spec/parse.ts";

const CORPUS = new URL("../fixtures/policy/tetragon_corpus/", import.meta.url);

const FILES = [...Deno.readDirSync(CORPUS)]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".yaml"))
  .sort();

Deno.test("the Tetragon corpus has a real sample of files", () => {
  assert.ok(FILES.length >= 30, `only ${FILES.length} files`);
});

Deno.test("no public Tetragon policy of the corpus is judged invalid", () => {
  const invalid = FILES.flatMap((name) => {
    const r = parsePolicy(Deno.readTextFileSync(new URL(name, CORPUS)), name);
    return r.errors.map((e) => `${name}:${e.line}:${e.column}: ${e.path}: ${e.message}`);
  });
  assert.deepEqual(invalid, []);
});
