/**
 * The one ordered, bounded queue of policy changes (issue 14 items 3 and 9): changes run one at a
 * time in arrival order, a change past the bound is refused at once with a 503, and a reload
 * joins only a reload that is still waiting at the end of the queue.
 */
import assert from "node:assert/strict";
import { ChangeQueue, PolicyChangeError } from "../../src/policy/change_queue.ts";

function gate(): { open: () => void; wait: Promise<void> } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { open, wait };
}

Deno.test("changes run one at a time, in arrival order, even when they await", async () => {
  const q = new ChangeQueue(8);
  const log: string[] = [];
  let running = 0;
  const change = (name: string, ms: number) => async () => {
    running++;
    assert.equal(running, 1, "one change at a time");
    log.push(`${name} start`);
    await new Promise((r) => setTimeout(r, ms));
    log.push(`${name} end`);
    running--;
    return name;
  };
  const results = await Promise.all([
    q.run(change("a", 30)),
    q.run(change("b", 1)),
    q.run(change("c", 10)),
  ]);
  assert.deepEqual(results, ["a", "b", "c"]);
  assert.deepEqual(log, ["a start", "a end", "b start", "b end", "c start", "c end"]);
});

Deno.test("a failing change does not stop the ones after it", async () => {
  const q = new ChangeQueue(4);
  const failed = q.run(() => {
    throw new Error("boom");
  });
  const next = q.run(() => "after");
  await assert.rejects(failed, /boom/);
  assert.equal(await next, "after");
});

Deno.test("beyond the bound a change is refused at once with a 503", async () => {
  const q = new ChangeQueue(2);
  const g = gate();
  const running = q.run(() => g.wait);
  await new Promise((r) => setTimeout(r, 0)); // it has started: no longer waiting
  const w1 = q.run(() => 1);
  const w2 = q.run(() => 2);
  assert.equal(q.waiting, 2);
  const refused = q.run(() => 3);
  await assert.rejects(refused, (err: unknown) => {
    assert.ok(err instanceof PolicyChangeError);
    assert.equal(err.status, 503);
    assert.match(err.message, /2 policy changes are already waiting/);
    return true;
  });
  g.open();
  await running;
  assert.deepEqual([await w1, await w2], [1, 2]);
  assert.equal(q.waiting, 0);
  assert.equal(await q.run(() => 4), 4, "room again once drained");
});

Deno.test("a reload joins a reload waiting at the end of the queue, not one before a change", async () => {
  const q = new ChangeQueue(4);
  const g = gate();
  let reloads = 0;
  const reload = () => q.run(() => ++reloads, "reload");
  const running = q.run(() => g.wait);
  const r1 = reload();
  const r2 = reload(); // joins r1: it is the last change and has not started
  assert.equal(r2, r1);
  const add = q.run(() => "add");
  const r3 = reload(); // must see "add": a new reload after it
  assert.notEqual(r3, r1);
  g.open();
  await running;
  assert.deepEqual([await r1, await r2, await add, await r3], [1, 1, "add", 2]);
});

Deno.test("a reload that already started is not joined", async () => {
  const q = new ChangeQueue(4);
  const g = gate();
  let reloads = 0;
  const first = q.run(async () => {
    reloads++;
    await g.wait;
    return reloads;
  }, "reload");
  await new Promise((r) => setTimeout(r, 0));
  const second = q.run(() => ++reloads, "reload");
  assert.notEqual(second, first);
  g.open();
  assert.deepEqual([await first, await second], [1, 2]);
});
