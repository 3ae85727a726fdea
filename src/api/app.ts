/**
 * The HTTP API as a Hono app, built from interfaces only so tests drive it with fakes through
 * `app.request()`. Every mutating request (POST, PUT, PATCH, DELETE) needs
 * `Authorization: Bearer <token>` (compared in constant time by `hono/bearer-auth`) and a body
 * within the size limit; every error is JSON `{ "error": ... }` from one `onError`, never a stack
 * trace; every request is counted in `vigil_api_requests_total{method,route,code}`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import type { Logger } from "../log/logger.ts";
import type { MetricChild, MetricsRegistry } from "../metrics/registry.ts";
import { errorResponse } from "./_json.ts";
import { eventsRoutes } from "./events_routes.ts";
import { opsRoutes } from "./ops_routes.ts";
import { policiesRoutes } from "./policies_routes.ts";
import type { EventHub, Health, PolicyService, StatusSource } from "./types.ts";

/** Default request body limit: 1 MiB. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/** Everything {@link createApp} needs. */
export interface AppDeps {
  readonly policies: PolicyService;
  readonly events: EventHub;
  readonly status: StatusSource;
  readonly health: Health;
  /** Rendered by `GET /metrics`; the app adds its request and stream families to it. */
  readonly metrics: MetricsRegistry;
  /** The bearer token mutating requests must present. */
  readonly token: string;
  /** Request body limit in bytes (default {@link DEFAULT_BODY_LIMIT_BYTES}). */
  readonly bodyLimitBytes?: number;
  /** Per-client `/events` queue in lines (default: the hub's, 10,000). */
  readonly eventQueueLines?: number;
  /** Aborting it ends every open `/events` stream (the server does this on close). */
  readonly shutdown?: AbortSignal;
  readonly logger?: Logger;
}

const MUTATING = ["POST", "PUT", "PATCH", "DELETE"];

function unauthorized(message: string): Response {
  return errorResponse(401, message);
}

/** The route pattern that answered (e.g. `/policies/:name`), or `unmatched`. */
function routeLabel(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== "ALL") return route.path;
  }
  return "unmatched";
}

function registerApiMetrics(deps: AppDeps): (method: string, route: string, code: number) => void {
  const requests = deps.metrics.counter(
    "vigil_api_requests_total",
    "HTTP API requests, by method, route pattern and status code.",
    ["method", "route", "code"],
  );
  deps.metrics.gauge("vigil_event_stream_clients", "Open /events stream clients.", [], {
    collect: () => [{ labels: [], value: deps.events.stats().subscribers }],
  });
  deps.metrics.counter(
    "vigil_event_stream_dropped_clients_total",
    "/events clients dropped because they fell too far behind.",
    [],
    { collect: () => [{ labels: [], value: deps.events.stats().dropped }] },
  );
  deps.metrics.counter(
    "vigil_event_stream_lines_total",
    "Event lines queued to /events clients.",
    [],
    { collect: () => [{ labels: [], value: deps.events.stats().delivered }] },
  );
  // Requests are not the hot path, but keep the children anyway: one map lookup per request.
  const children = new Map<string, MetricChild>();
  return (method, route, code) => {
    const key = `${method} ${route} ${code}`;
    let child = children.get(key);
    if (child === undefined) {
      child = requests.labels(method, route, String(code));
      children.set(key, child);
    }
    child.inc();
  };
}

/**
 * Builds the API app.
 *
 * @example
 * ```ts
 * const app = createApp({ policies, events, status, health, metrics, token });
 * const res = await app.request("/healthz"); // 200 {"status":"ok"}
 * ```
 */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const countRequest = registerApiMetrics(deps);
  const limit = deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;

  app.use("*", async (c, next) => {
    await next();
    countRequest(c.req.method, routeLabel(c), c.res.status);
  });

  app.on(
    MUTATING,
    "*",
    bearerAuth({
      token: deps.token,
      noAuthenticationHeader: {
        message: () =>
          unauthorized(
            "missing bearer token: send 'Authorization: Bearer <token>' " +
              "with the token from the agent's --api-token-file",
          ),
      },
      invalidAuthenticationHeader: {
        message: () => unauthorized("malformed Authorization header: expected 'Bearer <token>'"),
      },
      invalidToken: { message: () => unauthorized("invalid bearer token") },
    }),
    bodyLimit({
      maxSize: limit,
      onError: () => errorResponse(413, `request body too large: the limit is ${limit} bytes`),
    }),
  );

  app.route("/", opsRoutes(deps));
  app.route("/policies", policiesRoutes(deps.policies));
  app.route(
    "/events",
    eventsRoutes({
      events: deps.events,
      ...(deps.eventQueueLines === undefined ? {} : { queueLines: deps.eventQueueLines }),
      ...(deps.shutdown === undefined ? {} : { shutdown: deps.shutdown }),
      ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    }),
  );

  app.notFound((c) => errorResponse(404, `no route for ${c.req.method} ${c.req.path}`));

  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      const res = err.getResponse();
      if (res.headers.get("content-type")?.startsWith("application/json")) return res;
      const challenge = res.headers.get("www-authenticate");
      return errorResponse(
        err.status,
        err.message || res.statusText || "request failed",
        {},
        challenge === null ? {} : { "www-authenticate": challenge },
      );
    }
    deps.logger?.error("api: request failed", {
      method: c.req.method,
      path: c.req.path,
      error: err instanceof Error ? err.message : String(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
    return errorResponse(500, "internal error (see the agent's log)");
  });

  return app;
}
