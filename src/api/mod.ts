/**
 * vigil's operator API: the Hono app ({@link createApp}), its server ({@link startApiServer}),
 * the event hub for `GET /events`, the bearer token, systemd readiness, and the contracts the
 * agent implements ({@link PolicyService}, {@link EventHub}, {@link StatusSource}, {@link Health},
 * {@link ProgramStats}).
 *
 * @module
 */
export * from "./types.ts";
export {
  createApp,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_PUBLIC_ROUTES,
  parsePublicRoutes,
  PUBLIC_ROUTE_CHOICES,
} from "./app.ts";
export type { AppDeps, PublicRoute } from "./app.ts";
export { DEFAULT_CONNECTION_LIMITS, startApiServer } from "./server.ts";
export type { ApiServer, ApiServerDeps, ApiServerOptions, ConnectionLimits } from "./server.ts";
export {
  createEventHub,
  DEFAULT_MAX_SUBSCRIBERS,
  DEFAULT_MAX_TOTAL_BYTES,
  DEFAULT_QUEUE_BYTES,
  DEFAULT_QUEUE_LINES,
} from "./event_hub.ts";
export type { EventHubOptions } from "./event_hub.ts";
export { DEFAULT_TOKEN_FILE, generateToken, loadOrCreateToken, readTokenFile } from "./token.ts";
export { notifyReady, notifyReloading, notifyStopping, sdNotify } from "./notify.ts";
export type { NotifyOptions, NotifyResult } from "./notify.ts";
export { DEFAULT_API_ADDRESS, formatApiAddress, parseApiAddress } from "./address.ts";
export type { ApiAddress } from "./address.ts";
