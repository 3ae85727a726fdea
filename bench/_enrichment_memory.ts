/**
 * Heap cost of workload metadata at N containers, for bench/enrichment.ts: the sources' cache
 * (`tests/metadata/_cache_memory.ts`, as bench/metadata_cache.ts measures it) and the event
 * pipeline's per-container state on top of it (one `ContainerWorkload` per container, with its
 * memoised export object built from the metadata). Run in a process of its own with
 * `--v8-flags=--expose-gc`; prints one JSON line.
 *
 * `deno run --v8-flags=--expose-gc bench/_enrichment_memory.ts <containers> <churn>`
 *
 * @module
 */
import { measure, sampleMetadata } from "../tests/metadata/_cache_memory.ts";
import { CgroupRegistry } from "../src/cgroup/registry.ts";
import { WorkloadTracker } from "../src/workload/containers.ts";
import type { ContainerRef, WorkloadMetadata } from "../src/metadata/types.ts";

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().heapUsed;
}

const containers = Number(Deno.args[0] ?? 1000);
const churn = Number(Deno.args[1] ?? 100000);
const cache = measure(containers, churn);

// The pipeline side: the metadata is already held by the sources' cache, so it is built first
// and only the tracker's own objects are counted.
const key = (i: number) => i.toString(16).padStart(64, "0");
const metadata = new Map<string, WorkloadMetadata>();
for (let i = 0; i < containers; i++) metadata.set(key(i), sampleMetadata(i));
const registry = new CgroupRegistry();
const tracker = new WorkloadTracker({
  registry,
  metadata: { lookup: (ref: ContainerRef) => metadata.get(ref.id) },
});
const uid = "6b1f6a8e-2c51-4f0e-9d0a-6c3f1b2a9e77";
// The cgroup registry holds these without enrichment too: not counted.
for (let i = 0; i < containers; i++) {
  registry.onMkdir(BigInt(1000 + i), `/kubepods/besteffort/pod${uid}/${key(i)}`);
}
const before = heap();
for (let i = 0; i < containers; i++) {
  const c = tracker.containerOf(BigInt(1000 + i));
  if (c !== undefined) tracker.update(c);
}
const after = heap();
// deno-lint-ignore no-console
console.log(
  JSON.stringify({ ...cache, pipelineBytes: after - before, pipelineContainers: tracker.size }),
);
