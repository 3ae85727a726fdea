/**
 * The operator surface of a running agent: Prometheus metrics fed at scrape time from the agent's
 * own counters, BPF run-time statistics, `/status`, health, and the HTTP API that serves them.
 * Nothing here runs per event; the event path only calls `EventHub.publish`.
 *
 * @module
 */
import type { EventHub, Health, StatusSource } from "./api/types.ts";
import type { PublicRoute } from "./api/app.ts";
import type { ApiServer } from "./api/server.ts";
import type { ProgramRef } from "./metrics/bpf_stats.ts";
import { type BpfProgramStats, openBpfProgramStats } from "./metrics/bpf_stats.ts";
import { MetricsRegistry } from "./metrics/registry.ts";
import { registerVigilMetrics, type VigilMetricsSnapshot } from "./metrics/vigil_metrics.ts";
import type { BpfRuntime } from "./bpf/runtime.ts";
import type { Logger } from "./log/logger.ts";
import type { PolicyManager } from "./policy/mod.ts";
import { VERSION } from "./version.ts";

/** Where and how to serve. */
export interface OperatorConfig {
  /** `HOST:PORT` or `unix:PATH`; null: no API. */
  readonly listen: string | null;
  readonly apiTokenFile: string;
  /** Routes readable without the token (default `/healthz`, `/readyz`, `/metrics`). */
  readonly apiPublicRoutes?: readonly PublicRoute[];
  /** Hold the kernel's BPF run-time statistics on (per-program CPU for `/metrics`, `vigil top`). */
  readonly bpfStats: boolean;
}

/** What the agent hands to its operator surface. */
export interface OperatorDeps {
  readonly config: OperatorConfig;
  readonly logger: Logger;
  readonly rt: BpfRuntime;
  readonly policies: PolicyManager;
  readonly hub: EventHub;
  readonly health: Health;
  readonly status: StatusSource;
  /** The agent's programs (with the policy each belongs to), for run-time statistics. */
  readonly programs: () => Iterable<ProgramRef>;
  /** The agent's counters, read once per scrape. */
  readonly snapshot: () => VigilMetricsSnapshot;
}

/** A running operator surface. */
export interface Operator {
  readonly api: ApiServer | null;
  readonly programStats: BpfProgramStats;
  close(): Promise<void>;
}

/** Starts metrics, statistics and (when configured) the API server. */
export async function startOperator(deps: OperatorDeps): Promise<Operator> {
  const programStats = openBpfProgramStats({
    libbpf: deps.rt.libbpf,
    libc: deps.rt.libc,
    enable: deps.config.bpfStats,
    logger: deps.logger,
    programs: deps.programs,
  });
  const metrics = new MetricsRegistry();
  registerVigilMetrics(metrics, {
    build: { version: VERSION, deno: Deno.version.deno, libbpf: deps.rt.libbpfVersion },
    snapshot: deps.snapshot,
    // States only: each hook's counters are read once per scrape, by the snapshot.
    policies: () => deps.policies.list({ counters: false }),
    programs: programStats,
  });
  let api: ApiServer | null = null;
  if (deps.config.listen !== null) {
    try {
      // Imported only when serving: node:http and the Hono adapter cost ~10 MiB of RSS.
      const { startApiServer } = await import("./api/server.ts");
      api = await startApiServer(
        {
          listen: deps.config.listen,
          tokenFile: deps.config.apiTokenFile,
          ...(deps.config.apiPublicRoutes === undefined
            ? {}
            : { publicRoutes: deps.config.apiPublicRoutes }),
          logger: deps.logger,
        },
        {
          policies: deps.policies,
          events: deps.hub,
          status: deps.status,
          health: deps.health,
          metrics,
        },
      );
    } catch (err) {
      programStats.close();
      throw err;
    }
    deps.logger.info("api listening", { address: api.address, token_created: api.tokenCreated });
  }
  return {
    api,
    programStats,
    async close() {
      await api?.close();
      programStats.close();
    },
  };
}
