/**
 * Memory of the workload-metadata cache at 1,000 containers, and after 100,000 more containers
 * have churned through it (bounded: no growth).
 *
 * Each reading is the heap delta (`Deno.memoryUsage().heapUsed`) after a forced full GC, taken
 * in a child process started with `--v8-flags=--expose-gc`.
 *
 * Run: `deno run --allow-all bench/metadata_cache.ts`
 */
import type { CacheMemory } from "../tests/metadata/_cache_memory.ts";

const out = await new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--quiet",
    "--v8-flags=--expose-gc",
    new URL("../tests/metadata/_cache_memory.ts", import.meta.url).pathname,
    "1000",
    "100000",
  ],
  stdout: "piped",
  stderr: "inherit",
}).output();
if (!out.success) Deno.exit(1);
const m = JSON.parse(new TextDecoder().decode(out.stdout)) as CacheMemory;
const kib = (b: number) => (b / 1024).toFixed(1);
// deno-lint-ignore no-console
console.log(
  [
    `metadata cache: ${m.containers} containers = ${kib(m.bytesAtCapacity)} KiB heap ` +
    `(${(m.bytesAtCapacity / m.containers).toFixed(0)} bytes/container)`,
    `after ${m.churn} more containers churned through it: ${kib(m.bytesAfterChurn)} KiB more, ` +
    `${m.entries} entries, ${m.evictions} evictions`,
  ].join("\n"),
);
