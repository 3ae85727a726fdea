/**
 * Garden (Cloud Foundry's container server) as a metadata source, over its HTTP API on
 * `garden.sock`: `GET /containers` → `{"Handles": [...]}` and
 * `GET /containers/bulk_info?handles=a,b` → `{"<handle>": {"Info": ContainerInfo, "Err": null |
 * {Type, Message, Handle}}}` (Go field names: `State`, `Properties`, …).
 *
 * Diego's executor sets the properties read here: `log_config` (older executors:
 * `executor:log-config`) is JSON `{guid, index, source_name, tags}` whose tags carry the Cloud
 * Controller's `app_id`/`app_name`, `space_id`/`space_name`, `organization_id`/
 * `organization_name`, `process_type`; and `network.app_id|space_id|org_id|container_workload`
 * (`app`, `task` or `staging`). The container's handle is the LRP instance GUID or task GUID.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { MetadataCache, type MetadataCacheOptions } from "./cache.ts";
import { detectSocket, errorText, HealthTracker } from "./health.ts";
import { getJson, unixSocketClient } from "./http.ts";
import type {
  CfMetadata,
  CfWorkload,
  ContainerRef,
  MetadataSource,
  SourceHealth,
  WorkloadMetadata,
} from "./types.ts";

/** Garden's default socket on a Diego cell. */
export const GARDEN_SOCKET = "/var/vcap/data/garden/garden.sock";

/** `ContainerInfo` as Garden serialises it (no JSON tags: Go field names), the fields used. */
export interface GardenContainerInfo {
  State?: string;
  ContainerPath?: string;
  Properties?: Record<string, string> | null;
}

/** One `bulk_info` entry. */
export interface GardenInfoEntry {
  Info?: GardenContainerInfo;
  Err?: { Type?: string; Message?: string; Handle?: string } | null;
}

/** Options of {@link GardenSource}. */
export interface GardenSourceOptions {
  /** Default {@link GARDEN_SOCKET}. */
  socketPath?: string;
  /** As for containerd: `"auto"` (default), `true`, `false`. */
  enabled?: boolean | "auto";
  /** Per-request deadline; default 5000 ms (bulk_info of a full cell can take a while). */
  timeoutMs?: number;
  /** Handles per `bulk_info` request; default 50. */
  batchSize?: number;
  cache?: MetadataCacheOptions;
  logger?: Logger;
}

const LOG_CONFIG_KEYS = ["log_config", "executor:log-config"];
const WORKLOADS = new Set<CfWorkload>(["app", "task", "staging"]);

interface LogConfig {
  guid?: string;
  index?: number;
  source_name?: string;
  tags?: Record<string, string>;
}

function parseLogConfig(props: Record<string, string>): LogConfig | undefined {
  for (const key of LOG_CONFIG_KEYS) {
    const raw = props[key];
    if (!raw) continue;
    try {
      const v = JSON.parse(raw);
      if (v && typeof v === "object") return v as LogConfig;
    } catch {
      // not JSON: ignore
    }
  }
  return undefined;
}

/** Workload from `network.container_workload`, else from the log source name. */
function workloadOf(
  props: Record<string, string>,
  log: LogConfig | undefined,
): CfWorkload | undefined {
  const w = props["network.container_workload"];
  if (w && WORKLOADS.has(w as CfWorkload)) return w as CfWorkload;
  const source = log?.source_name ?? "";
  if (source === "STG") return "staging";
  if (source.startsWith("APP/TASK")) return "task";
  if (source.startsWith("APP")) return "app";
  return undefined;
}

/** Cloud Foundry metadata of one Garden container (exported for tests). */
export function gardenMetadata(handle: string, info: GardenContainerInfo): WorkloadMetadata {
  const props = info.Properties ?? {};
  const log = parseLogConfig(props);
  const tags = log?.tags ?? {};
  const cf: CfMetadata = {};
  const set = <K extends keyof CfMetadata>(k: K, v: CfMetadata[K] | undefined | "") => {
    if (v !== undefined && v !== "") cf[k] = v;
  };
  set("app_guid", tags.app_id ?? props["network.app_id"] ?? log?.guid);
  set("app_name", tags.app_name);
  set("space", tags.space_name);
  set("space_guid", tags.space_id ?? props["network.space_id"]);
  set("org", tags.organization_name);
  set("org_guid", tags.organization_id ?? props["network.org_id"]);
  if (typeof log?.index === "number" && Number.isInteger(log.index)) cf.instance_index = log.index;
  set("process_type", tags.process_type);
  set("workload", workloadOf(props, log));
  const container = { id: `garden://${handle}` };
  if (Object.keys(cf).length === 0) return { container };
  cf.instance_guid = handle;
  return { cf, container };
}

/** Cloud Foundry metadata from Garden, cached by container handle. */
export class GardenSource implements MetadataSource {
  readonly name = "garden";
  readonly socketPath: string;
  readonly #mode: boolean | "auto";
  readonly #timeoutMs: number;
  readonly #batch: number;
  readonly #cache: MetadataCache<WorkloadMetadata>;
  readonly #health: HealthTracker;
  readonly #log: Logger | undefined;
  #client: Deno.HttpClient | undefined;
  #closed = false;

  constructor(options: GardenSourceOptions = {}) {
    this.socketPath = options.socketPath ?? GARDEN_SOCKET;
    this.#mode = options.enabled ?? "auto";
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#batch = Math.max(1, options.batchSize ?? 50);
    this.#cache = new MetadataCache(options.cache);
    this.#log = options.logger;
    this.#health = new HealthTracker(this.#mode === false ? "disabled" : "down");
    this.#detect();
  }

  /** Applies the `enabled` mode (see `detectSocket`). */
  #detect(): boolean {
    return detectSocket(this.#mode, this.socketPath, this.#health);
  }

  #http(): Deno.HttpClient {
    this.#client ??= unixSocketClient(this.socketPath);
    return this.#client;
  }

  health(): SourceHealth {
    return this.#health.snapshot(this.#cache.size);
  }

  lookup(ref: ContainerRef): WorkloadMetadata | undefined {
    return this.#cache.get(ref.id);
  }

  async #bulkInfo(handles: string[]): Promise<Record<string, GardenInfoEntry>> {
    const q = handles.map(encodeURIComponent).join(",");
    return await getJson<Record<string, GardenInfoEntry>>(
      `http://garden/containers/bulk_info?handles=${q}`,
      { client: this.#http(), timeoutMs: this.#timeoutMs },
    ) ?? {};
  }

  #store(entries: Record<string, GardenInfoEntry>, live?: Set<string>): void {
    for (const [handle, entry] of Object.entries(entries)) {
      if (entry?.Err || !entry?.Info) continue;
      live?.add(handle);
      this.#cache.set(handle, gardenMetadata(handle, entry.Info));
    }
  }

  async refresh(ref: ContainerRef): Promise<void> {
    if (this.#closed || this.#cache.isLive(ref.id) || !this.#detect() || !this.#health.mayTry()) {
      return;
    }
    try {
      this.#store(await this.#bulkInfo([ref.id]));
      this.#health.ok();
    } catch (err) {
      this.#failed(err, "refresh");
    }
  }

  async resync(): Promise<void> {
    if (this.#closed || !this.#detect() || !this.#health.mayTry()) return;
    try {
      const list = await getJson<{ Handles?: string[] | null }>("http://garden/containers", {
        client: this.#http(),
        timeoutMs: this.#timeoutMs,
      });
      const handles = list?.Handles ?? [];
      const live = new Set<string>();
      // Properties of a container do not change after Diego creates it: fetch new ones only.
      for (const h of handles) if (this.#cache.isLive(h)) live.add(h);
      const todo = handles.filter((h) => !live.has(h));
      for (let i = 0; i < todo.length; i += this.#batch) {
        this.#store(await this.#bulkInfo(todo.slice(i, i + this.#batch)), live);
      }
      this.#cache.retainOnly(new Set(handles));
      this.#cache.sweep();
      this.#health.ok(true);
    } catch (err) {
      this.#failed(err, "sync");
    }
  }

  #failed(err: unknown, kind: "sync" | "refresh"): void {
    const was = this.#health.state;
    this.#health.fail(err, kind);
    this.#client?.close();
    this.#client = undefined;
    if (was === "up") {
      this.#log?.warn("metadata source down", { source: this.name, error: errorText(err) });
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#client?.close();
    this.#client = undefined;
    return Promise.resolve();
  }
}
