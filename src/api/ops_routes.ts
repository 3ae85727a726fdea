/**
 * Read-only operational routes: `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /status`.
 *
 * @module
 */
import { Hono } from "hono";
import type { MetricsRegistry } from "../metrics/registry.ts";
import { errorResponse, jsonResponse } from "./_json.ts";
import type { Health, StatusSource } from "./types.ts";

/** What the operational routes read. */
export interface OpsDeps {
  readonly health: Health;
  readonly status: StatusSource;
  readonly metrics: MetricsRegistry;
}

/** Prometheus text exposition format, version 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The operational sub-app (mounted at `/`).
 *
 * @example
 * ```ts
 * app.route("/", opsRoutes({ health, status, metrics }));
 * ```
 */
export function opsRoutes(deps: OpsDeps): Hono {
  const app = new Hono();

  app.get("/healthz", () => {
    if (deps.health.alive()) return jsonResponse({ status: "ok" });
    return errorResponse(503, "not alive: the agent's event loop is not making progress");
  });

  app.get("/readyz", () => {
    const { ready, reason } = deps.health.ready();
    if (ready) return jsonResponse({ ready: true });
    return errorResponse(503, `not ready: ${reason ?? "starting"}`, {
      ready: false,
      reason: reason ?? "starting",
    });
  });

  app.get("/metrics", () => {
    return new Response(deps.metrics.render(), {
      headers: { "content-type": METRICS_CONTENT_TYPE },
    });
  });

  app.get("/status", () => jsonResponse(deps.status.status()));

  return app;
}
