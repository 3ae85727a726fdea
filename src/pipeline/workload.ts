/**
 * The container part of a process's export: `docker` (the short id, as Tetragon prints it) and
 * `pod.container.id` as `<runtime>://<id>`, with `pod.uid` when the cgroup path carries one.
 *
 * @module
 */
import type { CgroupRegistry } from "../cgroup/registry.ts";
import { containerUri, shortId } from "../cgroup/container.ts";
import type { ProcessExtra } from "../process/types.ts";

/** Resolves the workload fields of a cgroup id; undefined for host processes. */
export type WorkloadResolver = (cgroupId: bigint) => ProcessExtra | undefined;

/** A resolver over the registry; results are shared per container (one object per id). */
export function createWorkloadResolver(registry: CgroupRegistry): WorkloadResolver {
  const byUri = new Map<string, ProcessExtra>();
  return (cgroupId) => {
    const container = registry.lookup(cgroupId)?.container;
    if (!container) return undefined;
    const uri = containerUri(container);
    let extra = byUri.get(uri);
    if (!extra) {
      extra = {
        docker: shortId(container.id),
        pod: { ...(container.podUid ? { uid: container.podUid } : {}), container: { id: uri } },
      };
      // Bounded by the number of live containers: dropped with the registry's grace period.
      if (byUri.size > 65536) byUri.clear();
      byUri.set(uri, extra);
    }
    return extra;
  };
}
