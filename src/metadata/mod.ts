/**
 * Workload metadata for events: Kubernetes pods (Tetragon's `pod` object) and Cloud Foundry apps
 * (`cf`), from containerd/CRI, Docker Engine, Garden and the Kubernetes API, combined by a
 * {@link MetadataRegistry}. See README.md in this directory.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { ContainerdSource, type ContainerdSourceOptions } from "./containerd.ts";
import { DockerSource, type DockerSourceOptions } from "./docker.ts";
import { GardenSource, type GardenSourceOptions } from "./garden.ts";
import { KubernetesSource, type KubernetesSourceOptions } from "./kubernetes.ts";
import { MetadataRegistry } from "./registry.ts";
import type { MetadataSource } from "./types.ts";

export * from "./types.ts";
export { MetadataCache, type MetadataCacheOptions, type MetadataCacheStats } from "./cache.ts";
export {
  mergeWorkload,
  type MetadataCounters,
  MetadataRegistry,
  type MetadataRegistryOptions,
  type SourceCounters,
} from "./registry.ts";
export { CONTAINERD_SOCKET, ContainerdSource, type ContainerdSourceOptions } from "./containerd.ts";
export { DOCKER_SOCKET, DockerSource, type DockerSourceOptions } from "./docker.ts";
export { GARDEN_SOCKET, GardenSource, type GardenSourceOptions } from "./garden.ts";
export { KubernetesSource, type KubernetesSourceOptions } from "./kubernetes.ts";

/** Options of {@link createMetadataRegistry}: one entry per source (`false` turns it off). */
export interface MetadataOptions {
  kubernetes?: KubernetesSourceOptions | false;
  containerd?: ContainerdSourceOptions | false;
  docker?: DockerSourceOptions | false;
  garden?: GardenSourceOptions | false;
  /** Full resync period; default 60 s. */
  resyncIntervalMs?: number;
  logger?: Logger;
}

/**
 * Every source, auto-detected at its default socket/configuration unless given options, in
 * priority order Kubernetes API (authoritative for pods, as in Tetragon), containerd/CRI,
 * Docker, Garden. Call `start()` on the result.
 */
export function createMetadataRegistry(options: MetadataOptions = {}): MetadataRegistry {
  const logger = options.logger;
  const sources: MetadataSource[] = [];
  if (options.kubernetes !== false) {
    sources.push(new KubernetesSource({ logger, ...options.kubernetes }));
  }
  if (options.containerd !== false) {
    sources.push(new ContainerdSource({ logger, ...options.containerd }));
  }
  if (options.docker !== false) sources.push(new DockerSource({ logger, ...options.docker }));
  if (options.garden !== false) sources.push(new GardenSource({ logger, ...options.garden }));
  return new MetadataRegistry({ sources, resyncIntervalMs: options.resyncIntervalMs, logger });
}
