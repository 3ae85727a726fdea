/**
 * The HTTP API as a Hono app, built from interfaces only so tests drive it with fakes through
 * `app.request()`. Every request needs `Authorization: Bearer <token>` (compared in constant time
 * by `hono/bearer-auth`) except `GET` of the public routes (by default `/healthz`, `/readyz` and
 * `/metrics`, see {@link DEFAULT_PUBLIC_ROUTES}): the event stream carries every command line on
 * the host and policies show what is watched, so reading them is as privileged as changing them.
 * Every mutating request (POST, PUT, PATCH, DELETE) also needs a body within the size limit; every error is JSON `{ "error": ... }` from one `onError`, never a stack
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

/** Routes that may be readable without the token, and the ones that are by default. */
export const PUBLIC_ROUTE_CHOICES = ["/healthz", "/readyz", "/metrics"] as const;
/** A route {@link AppDeps.publicRoutes} may open. */
export type PublicRoute = typeof PUBLIC_ROUTE_CHOICES[number];
/** Probes and the scrape stay open: systemd, load balancers and Prometheus hold no token. */
export const DEFAULT_PUBLIC_ROUTES: readonly PublicRoute[] = PUBLIC_ROUTE_CHOICES;

/**
 * Parses a comma-separated list of public routes (`healthz,readyz,metrics`, with or without the
 * leading slash; "" = none); throws a one-line error naming a route that cannot be public.
 *
 * @example
 * ```ts
 * parsePublicRoutes("healthz,/readyz"); // ["/healthz", "/readyz"]
 * parsePublicRoutes(""); // []
 * ```
 */
export function parsePublicRoutes(text: string): PublicRoute[] {
  const out: PublicRoute[] = [];
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const route = part.startsWith("/") ? part : `/${part}`;
    const known = PUBLIC_ROUTE_CHOICES.find((r) => r === route);
    if (known === undefined) {
      throw new Error(
        `'${part}' cannot be a public route: only ${
          PUBLIC_ROUTE_CHOICES.join(", ")
        } may be read without the token`,
      );
    }
    if (!out.includes(known)) out.push(known);
  }
  return out;
}

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
  /** The bearer token every request but a public route's `GET` must present. */
  readonly token: string;
  /** Routes readable without the token (default {@link DEFAULT_PUBLIC_ROUTES}); [] = none. */
  readonly publicRoutes?: readonly PublicRoute[];
  /** Request body limit in bytes (default {@link DEFAULT_BODY_LIMIT_BYTES}). */
  readonly bodyLimitBytes?: number;
  /** Per-client `/events` queue in lines (default: the hub's, 10,000). */
  readonly eventQueueLines?: number;
  /** Aborting it ends every open `/events` stream (the server does this on close). */
  readonly shutdown?: AbortSignal;
  readonly logger?: Logger;
}

const MUTATING = ["POST", "PUT", "PATCH", "DELETE"];

/** Methods counted under their own name; any other (clients may send any token) is `other`. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The method label: bounded, so invented methods cannot grow the metric without limit. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : "other";
}

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
    "vigil_event_stream_refused_clients_total",
    "/events clients refused with 503 because the limit of concurrent streams was reached.",
    [],
    { collect: () => [{ labels: [], value: deps.events.stats().refused }] },
  );
  deps.metrics.gauge(
    "vigil_event_stream_queued_bytes",
    "Bytes of event lines queued for /events clients now (bounded in total).",
    [],
    { collect: () => [{ labels: [], value: deps.events.stats().queuedBytes }] },
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
    countRequest(methodLabel(c.req.method), routeLabel(c), c.res.status);
  });

  const publicRoutes = new Set<string>(deps.publicRoutes ?? DEFAULT_PUBLIC_ROUTES);
  const auth = bearerAuth({
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
  });
  app.use("*", (c, next) => {
    const open = (c.req.method === "GET" || c.req.method === "HEAD") &&
      publicRoutes.has(c.req.path);
    return open ? next() : auth(c, next);
  });
  app.on(
    MUTATING,
    "*",
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
