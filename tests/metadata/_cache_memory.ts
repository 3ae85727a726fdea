/**
 * Heap cost of the metadata cache, measured in a process of its own started with
 * `--v8-flags=--expose-gc` (so garbage is collected before each reading). Used by
 * tests/metadata/cache_test.ts and bench/metadata_cache.ts.
 *
 * Run directly it prints one JSON line:
 * `deno run --v8-flags=--expose-gc tests/metadata/_cache_memory.ts <containers> <churn>`.
 *
 * @module
 */
import { MetadataCache } from "../../src/metadata/cache.ts";
import type { WorkloadMetadata } from "../../src/metadata/types.ts";

/** A realistic entry: a pod with labels, a container with image and start time. */
export function sampleMetadata(i: number): WorkloadMetadata {
  const id = i.toString(16).padStart(64, "0");
  return {
    pod: {
      namespace: `ns-${i % 20}`,
      name: `deploy-${i % 50}-6f7c9d8b5d-${i.toString(36).padStart(5, "0")}`,
      uid: crypto.randomUUID(),
      container: {
        id: `containerd://${id}`,
        name: `app-${i % 3}`,
        image: { id: `docker.io/library/nginx@sha256:${id}`, name: "docker.io/library/nginx:1.27" },
        start_time: "2025-03-01T09:00:05Z",
      },
      pod_labels: { app: `deploy-${i % 50}`, "pod-template-hash": "6f7c9d8b5d", tier: "web" },
      workload: `deploy-${i % 50}`,
      workload_kind: "Deployment",
    },
  };
}

/** Result of {@link measure}. */
export interface CacheMemory {
  /** Containers kept (the cache's cap). */
  containers: number;
  /** Containers that went through the cache after the first reading. */
  churn: number;
  /** Heap after filling `containers` entries minus the empty cache's, in bytes. */
  bytesAtCapacity: number;
  /** Heap after `churn` more containers (with deletions) minus the reading at capacity. */
  bytesAfterChurn: number;
  entries: number;
  evictions: number;
}

function heap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Deno.memoryUsage().heapUsed;
}

/** Fills a cache capped at `containers`, then pushes `churn` more containers through it. */
export function measure(containers: number, churn: number): CacheMemory {
  const key = (i: number) => i.toString(16).padStart(64, "0");
  // Warm up the code paths on a throwaway cache.
  const warm = new MetadataCache<WorkloadMetadata>({ maxEntries: 100 });
  for (let i = 0; i < 2000; i++) warm.set(key(i), sampleMetadata(i));
  warm.clear();
  const cache = new MetadataCache<WorkloadMetadata>({ maxEntries: containers, graceMs: 60_000 });
  const empty = heap();
  for (let i = 0; i < containers; i++) cache.set(key(i), sampleMetadata(i));
  const full = heap();
  for (let i = containers; i < containers + churn; i++) {
    cache.set(key(i), sampleMetadata(i));
    if (i % 3 === 0) cache.markDeleted(key(i - 1));
  }
  const churned = heap();
  const s = cache.stats();
  return {
    containers,
    churn,
    bytesAtCapacity: full - empty,
    bytesAfterChurn: churned - full,
    entries: s.entries,
    evictions: s.evictions,
  };
}

if (import.meta.main) {
  const [n, churn] = Deno.args.map(Number);
  // deno-lint-ignore no-console
  console.log(JSON.stringify(measure(n || 1000, churn || 0)));
}
