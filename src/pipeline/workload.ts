/**
 * The container part of a process's export: `docker` (the id's first 31 characters, as Tetragon
 * prints it) and `pod.container.id` as `<runtime>://<id>`, with `pod.uid` when the cgroup path
 * carries one.
 *
 * @module
 */
import type { CgroupRegistry } from "../cgroup/registry.ts";
import { containerUri } from "../cgroup/container.ts";
import type { ProcessExtra } from "../process/types.ts";

const DOCKER_ID_CHARS = 31;

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
        // Tetragon's `docker` field: the first 31 characters of the container id.
        docker: container.id.slice(0, DOCKER_ID_CHARS),
        pod: { ...(container.podUid ? { uid: container.podUid } : {}), container: { id: uri } },
      };
      // Bounded by the number of live containers: dropped with the registry's grace period.
      if (byUri.size > 65536) byUri.clear();
      byUri.set(uri, extra);
    }
    return extra;
  };
}
