/**
 * Policy texts parsed in a Worker with a deadline (issue 14 item 2): the same results as on the
 * calling thread, the main thread's timers keep firing while a parse is stuck, a parse past its
 * deadline answers a located error, and the next parse gets a fresh worker.
 */
import assert from "node:assert/strict";
import { OffThreadParser } from "../../src/policy/spec/parse_off_thread.ts";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { aliasBomb, deepTags, friendlyAliases } from "./_hostile.ts";

const STUCK = new URL("./_stuck_parse_worker.ts", import.meta.url);

Deno.test("off-thread parses equal on-thread parses (examples and hostile texts)", async () => {
  const parser = new OffThreadParser({ idleMs: 0 });
  try {
    const dir = new URL("../../policies/", import.meta.url);
    const texts = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".yaml"))
      .map((e) => [e.name, Deno.readTextFileSync(new URL(e.name, dir))] as const);
    texts.push(["deep.yaml", deepTags()], ["bomb.yaml", aliasBomb()], [
      "friendly.yaml",
      friendlyAliases(),
    ]);
    for (const [file, text] of texts) {
      assert.deepStrictEqual(await parser.parse(text, file), parsePolicy(text, file), file);
    }
    assert.equal(parser.inThread, false);
  } finally {
    parser.close();
  }
});

Deno.test("a stuck parse: the event loop keeps running, the deadline answers an error", async () => {
  const parser = new OffThreadParser({ deadlineMs: 1_500, idleMs: 0, workerUrl: STUCK });
  try {
    let ticks = 0;
    let longestGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
      ticks++;
    }, 20);
    const started = performance.now();
    const result = await parser.parse(deepTags(), "stuck.yaml");
    const took = performance.now() - started;
    clearInterval(timer);
    assert.deepEqual(result.errors, [{
      file: "stuck.yaml",
      line: 1,
      column: 1,
      path: "",
      message: "parsing took longer than 1500 ms and was abandoned (vigil's limit)",
    }]);
    assert.ok(took >= 1_400, `answered after ${took.toFixed(0)} ms`);
    // ~70 ticks of 20 ms while the worker spins; a blocked loop would give none.
    assert.ok(ticks >= 20, `${ticks} ticks`);
    assert.ok(longestGap < 1_000, `longest gap between ticks ${longestGap.toFixed(0)} ms`);
  } finally {
    parser.close();
  }
});

Deno.test("after a deadline the next parse gets a fresh worker", async () => {
  // The stuck worker for the first parse, a real one after: the URL is read at each start.
  const parser = new OffThreadParser({ deadlineMs: 500, idleMs: 0, workerUrl: STUCK });
  try {
    const first = await parser.parse("x: 1\n", "a.yaml");
    assert.match(first.errors[0]!.message, /longer than 500 ms/);
    const second = await parser.parse("x: 1\n", "b.yaml");
    assert.match(second.errors[0]!.message, /longer than 500 ms/, "a fresh (stuck) worker again");
  } finally {
    parser.close();
  }
  const real = new OffThreadParser({ idleMs: 0 });
  try {
    const ok = await real.parse(friendlyAliases(), "friendly.yaml");
    assert.deepEqual(ok.errors, []);
  } finally {
    real.close();
  }
});

Deno.test("a worker that cannot start: parses run on the calling thread, still answered", async () => {
  const parser = new OffThreadParser({
    idleMs: 0,
    workerUrl: new URL("./_broken_parse_worker.ts", import.meta.url),
  });
  try {
    const r = await parser.parse(deepTags(), "deep.yaml");
    assert.equal(parser.inThread, true);
    assert.match(r.errors[0]!.message, /nested more than 64 levels/);
  } finally {
    parser.close();
  }
});

Deno.test("a closed parser answers an error, never hangs", async () => {
  const parser = new OffThreadParser();
  parser.close();
  const r = await parser.parse("x: 1\n", "late.yaml");
  assert.equal(r.errors[0]!.message, "the policy parser is closed");
});
