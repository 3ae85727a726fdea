/**
 * MetadataCache: LRU order, size cap, grace period of deleted entries, and bounded memory under
 * container churn far beyond its size.
 */
import assert from "node:assert/strict";
import { MetadataCache } from "../../src/metadata/cache.ts";
import type { CacheMemory } from "./_cache_memory.ts";

Deno.test("cache: LRU eviction at the size cap, deleted entries first", () => {
  const now = 0;
  const c = new MetadataCache<number>({ maxEntries: 3, graceMs: 1000, now: () => now });
  c.set("a", 1);
  c.set("b", 2);
  c.set("c", 3);
  assert.equal(c.get("a"), 1); // a is now most recent
  c.set("d", 4); // evicts b, the least recently used
  assert.deepEqual([...c.keys()], ["c", "a", "d"]);
  c.markDeleted("a");
  c.set("e", 5); // evicts the deleted a before the live c
  assert.deepEqual([...c.keys()], ["c", "d", "e"]);
  assert.equal(c.stats().evictions, 2);
  assert.equal(c.stats().deleted, 0);
});

Deno.test("cache: a deleted entry answers for the grace period, then expires", () => {
  let now = 0;
  const c = new MetadataCache<string>({ graceMs: 1000, now: () => now });
  c.set("x", "meta");
  c.set("y", "meta-y");
  c.markDeleted("x");
  assert.equal(c.isLive("x"), false);
  now = 999;
  assert.equal(c.get("x"), "meta");
  now = 1000;
  assert.equal(c.get("x"), undefined);
  assert.equal(c.stats().expired, 1);
  // retainOnly marks the rest deleted; set() revives.
  c.retainOnly(new Set());
  assert.equal(c.stats().deleted, 1);
  c.set("y", "again");
  assert.equal(c.isLive("y"), true);
  assert.equal(c.stats().deleted, 0);
  c.markDeleted("y");
  now = 5000;
  assert.equal(c.sweep(), 1);
  assert.equal(c.size, 0);
});

Deno.test("cache: memory stays bounded (1000-entry cache, 200k containers of churn)", async () => {
  // A process of its own with --expose-gc, so each heap reading follows a full collection.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--v8-flags=--expose-gc",
      new URL("./_cache_memory.ts", import.meta.url).pathname,
      "1000",
      "200000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const m = JSON.parse(new TextDecoder().decode(out.stdout)) as CacheMemory;
  assert.equal(m.entries, 1000);
  assert.equal(m.evictions, 200_000);
  // ~1 KiB an entry; 1000 entries well under 4 MiB.
  assert.ok(m.bytesAtCapacity < 4 * 1024 * 1024, `at capacity: ${m.bytesAtCapacity} bytes`);
  // Unbounded, 200k more entries would take ~200 MiB; bounded, the heap does not grow.
  assert.ok(m.bytesAfterChurn < 2 * 1024 * 1024, `after churn: ${m.bytesAfterChurn} bytes`);
});
