/**
 * A small, seeded fuzz of the policy reader: a few hundred hostile documents made by mutating the
 * shipped example policies and by splicing in the pathological shapes of issue 14 (deep nesting,
 * alias chains, many keys, huge scalars, stray indicators, tabs, control characters). Each must
 * come back as a valid plan or as errors that all have a file, line and column, within a time
 * and heap bound, and never as a throw. The seed is printed on failure; set VIGIL_FUZZ_SEED to
 * replay one, VIGIL_FUZZ_CASES to run more.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { planPolicy } from "../../src/policy/plan/plan.ts";
import { facts } from "./plan_fixtures.ts";

const SEED = Number(Deno.env.get("VIGIL_FUZZ_SEED") ?? 0x5eed14);
const CASES = Number(Deno.env.get("VIGIL_FUZZ_CASES") ?? 300);
/** Generous safety bounds: a parse is ~1 ms to ~0.5 s here; these catch blow-ups, not speed. */
const MAX_MS_PER_DOC = 3_000;
const MAX_HEAP_GROWTH_BYTES = 256 * 1024 * 1024;

/** mulberry32: a tiny seeded PRNG, so every run sees the same documents. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EXAMPLES = [...Deno.readDirSync(new URL("../../policies/", import.meta.url))]
  .filter((e) => e.name.endsWith(".yaml"))
  .map((e) => Deno.readTextFileSync(new URL(`../../policies/${e.name}`, import.meta.url)))
  .sort();

const SPECIALS = [
  "-",
  "- ",
  ":",
  ": ",
  "[",
  "]",
  "{",
  "}",
  ",",
  "&a ",
  "*a",
  "&b ",
  "*b",
  "!!str ",
  "!tag ",
  "? ",
  "|",
  ">",
  "'",
  '"',
  "#",
  "\t",
  "\n",
  "  ",
  "\u0000",
  "\u202e",
  "\uffff",
  "\ud800",
  "---\n",
  "...\n",
  "%YAML 1.1\n",
  "<<: *a\n",
  "0x",
  "-1",
  "99999999999999999999999",
  ".inf",
  "~",
  "null",
];

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);

/** One mutation of `text`. */
function mutate(rng: Rng, text: string): string {
  const lines = text.split("\n");
  const at = int(rng, text.length + 1);
  switch (int(rng, 12)) {
    case 0: // insert special characters
      return text.slice(0, at) + pick(rng, SPECIALS).repeat(1 + int(rng, 4)) + text.slice(at);
    case 1: // delete a span
      return text.slice(0, at) + text.slice(at + int(rng, 40));
    case 2: { // duplicate a line many times
      const i = int(rng, lines.length);
      const copies = Array(1 + int(rng, 1200)).fill(lines[i]);
      return [...lines.slice(0, i), ...copies, ...lines.slice(i)].join("\n");
    }
    case 3: { // nest deep at a value
      const depth = 1 + int(rng, 5000);
      const open = pick(rng, ["[", "{a: ", "- "]);
      const close = open === "[" ? "]" : open === "{a: " ? "}" : "";
      return text.slice(0, at) + open.repeat(depth) + "x" + close.repeat(depth) + text.slice(at);
    }
    case 4: { // an alias chain: each level twice the one before
      const levels = 2 + int(rng, 20);
      let chain = "\n  x0: &l0 [a, b]\n";
      for (let l = 1; l < levels; l++) chain += `  x${l}: &l${l} [*l${l - 1}, *l${l - 1}]\n`;
      return text + chain;
    }
    case 5: { // many keys in one mapping
      const n = 1 + int(rng, 1200);
      let keys = "";
      for (let k = 0; k < n; k++) keys += `  key${k % (1 + int(rng, n))}: ${k}\n`;
      return text + keys;
    }
    case 6: // a huge scalar
      return text.slice(0, at) + "x".repeat(int(rng, 100_000)) + text.slice(at);
    case 7: { // swap two lines
      const i = int(rng, lines.length);
      const j = int(rng, lines.length);
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      return lines.join("\n");
    }
    case 8: // re-indent a line
      return lines.map((l, i) => i === int(rng, lines.length) ? " ".repeat(int(rng, 9)) + l : l)
        .join("\n");
    case 9: // truncate
      return text.slice(0, at);
    case 10: { // random bytes
      let junk = "";
      for (let k = int(rng, 64); k > 0; k--) junk += String.fromCharCode(int(rng, 0x3000));
      return text.slice(0, at) + junk + text.slice(at);
    }
    default: // splice in another example
      return text.slice(0, at) + pick(rng, EXAMPLES).slice(int(rng, 500)) + text.slice(at);
  }
}

Deno.test(`fuzz: ${CASES} seeded hostile documents each get a plan or located errors`, () => {
  const rng = prng(SEED);
  const planFacts = facts();
  const heapBefore = Deno.memoryUsage().heapUsed;
  let valid = 0;
  let slowest = 0;
  for (let n = 0; n < CASES; n++) {
    let text = pick(rng, EXAMPLES);
    for (let m = 1 + int(rng, 4); m > 0; m--) text = mutate(rng, text);
    const where = `seed ${SEED}, case ${n} (${text.length} chars)`;
    const t0 = performance.now();
    let result;
    try {
      result = parsePolicy(text, `fuzz-${n}.yaml`);
      if (result.policy !== undefined) {
        const plan = planPolicy(result.policy, planFacts);
        assert.ok(plan.runnable || plan.errors.length > 0 || plan.reason, `${where}: plan`);
      }
    } catch (err) {
      assert.fail(`${where}: threw ${err instanceof Error ? err.stack : String(err)}`);
    }
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < MAX_MS_PER_DOC, `${where}: ${ms.toFixed(0)} ms`);
    if (result.policy !== undefined) {
      valid++;
      continue;
    }
    assert.ok(result.errors.length > 0, `${where}: neither a policy nor errors`);
    assert.ok(result.errors.length <= 101, `${where}: ${result.errors.length} errors`);
    for (const e of result.errors) {
      assert.equal(e.file, `fuzz-${n}.yaml`, where);
      assert.ok(Number.isInteger(e.line) && e.line >= 1, `${where}: line ${e.line}`);
      assert.ok(Number.isInteger(e.column) && e.column >= 1, `${where}: column ${e.column}`);
      assert.ok(e.message.length > 0 && e.message.length <= 300, `${where}: message`);
    }
    const growth = Deno.memoryUsage().heapUsed - heapBefore;
    assert.ok(growth < MAX_HEAP_GROWTH_BYTES, `${where}: heap grew ${growth} bytes`);
  }
  // Some mutations leave the policy valid: the fuzz must exercise both outcomes.
  assert.ok(valid > 0 && valid < CASES, `${valid} of ${CASES} valid`);
  const summary = `  fuzz: ${CASES} documents, ${valid} valid, slowest ${slowest.toFixed(0)} ms\n`;
  Deno.stdout.writeSync(new TextEncoder().encode(summary));
});
