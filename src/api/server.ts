/**
 * Serves the API app on a TCP address or a unix socket, through `node:http` driven by Hono's
 * Node adapter (`@hono/node-server`). Not `Deno.serve`: it has no header or idle timeout and no
 * connection limit (a connection that never finishes its headers stays open forever), and it
 * keeps pulling a streamed body while the client reads nothing. `node:http` enforces
 * `headersTimeout` (408, then close), `requestTimeout` and `keepAliveTimeout`, and writes a
 * streamed body only as fast as the client reads. The connection cap is ours
 * ({@link capConnections}): beyond it the oldest connection without a request in flight is cut,
 * so slow or idle connections cannot lock a quick client (or a health probe) out.
 *
 * The unix socket is created with mode 0600 (the umask is tightened around the bind, so it is
 * never reachable with looser permissions), a stale socket file left by a crashed agent is removed
 * first, and a live one (another agent) is refused.
 *
 * @module
 */
import { getRequestListener } from "@hono/node-server";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import type { Logger } from "../log/logger.ts";
import { type ApiAddress, formatApiAddress, isLoopback, parseApiAddress } from "./address.ts";
import { type AppDeps, createApp, type PublicRoute } from "./app.ts";
import { capConnections, type ConnectionCapStats } from "./connection_cap.ts";
import { errorResponse } from "./_json.ts";
import { loadOrCreateToken } from "./token.ts";

/** Connection limits of the listener; see {@link DEFAULT_CONNECTION_LIMITS}. */
export interface ConnectionLimits {
  /** A request's headers must arrive within this time from the connection (or last request). */
  readonly headersTimeoutMs: number;
  /** A whole request (headers and body) must arrive within this time. */
  readonly requestTimeoutMs: number;
  /** A kept-alive connection with no request in flight is closed after this time. */
  readonly idleTimeoutMs: number;
  /**
   * Open connections at most (streams included); beyond it the oldest connection with no request
   * in flight is cut, or the new one when every connection is busy.
   */
  readonly maxConnections: number;
}

/** Generous for any real client, short for a connection that holds a slot and sends nothing. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  maxConnections: 256,
};

/** How and where to serve. */
export interface ApiServerOptions {
  /** `HOST:PORT` (port 0 picks a free port) or `unix:PATH`. */
  readonly listen: string;
  /** Bearer token file; created (0600) when absent. */
  readonly tokenFile: string;
  /** Routes readable without the token (default `/healthz`, `/readyz`, `/metrics`). */
  readonly publicRoutes?: readonly PublicRoute[];
  /** Request body limit in bytes (default 1 MiB). */
  readonly bodyLimitBytes?: number;
  /** Per-client `/events` queue in lines (default 10,000). */
  readonly eventQueueLines?: number;
  /** Timeouts and the connection cap (each defaults to {@link DEFAULT_CONNECTION_LIMITS}). */
  readonly limits?: Partial<ConnectionLimits>;
  /**
   * How long {@link ApiServer.close} waits for open connections (default 2000 ms); then the
   * remaining ones are cut.
   */
  readonly closeGraceMs?: number;
  readonly logger: Logger;
}

/** The agent-side dependencies of the API (the server adds the token, limits and shutdown). */
export type ApiServerDeps = Omit<
  AppDeps,
  "token" | "bodyLimitBytes" | "eventQueueLines" | "shutdown" | "logger" | "publicRoutes"
>;

/** A running API server. */
export interface ApiServer {
  /** Where it listens, e.g. `127.0.0.1:9560` (the real port when 0 was asked) or `unix:/path`. */
  readonly address: string;
  /** Whether the token file was created by this start. */
  readonly tokenCreated: boolean;
  /** Open connections now, and what the connection cap did. */
  connections(): ConnectionCapStats;
  /**
   * Stops accepting connections, ends `/events` streams, waits (up to the grace period) for
   * in-flight requests, cuts the rest, removes the unix socket. Idempotent.
   */
  close(): Promise<void>;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** Removes a stale socket at `path`; refuses a live socket or a non-socket file. */
async function clearStaleSocket(path: string): Promise<void> {
  const info = await statOrNull(path);
  if (info === null) return;
  if (!info.isSocket) {
    throw new Error(`api: ${path} exists and is not a socket; refusing to replace it`);
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch {
    await Deno.remove(path); // nobody answers: left behind by an agent that died
    return;
  }
  throw new Error(`api: another process is already listening on unix:${path}`);
}

function listenError(address: string, err: unknown): Error {
  let why = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (err instanceof Deno.errors.AddrInUse || code === "EADDRINUSE") {
    why = "address already in use";
  } else if (err instanceof Deno.errors.PermissionDenied || code === "EACCES") {
    why = "permission denied";
  } else if (err instanceof Deno.errors.AddrNotAvailable || code === "EADDRNOTAVAIL") {
    why = "address not available";
  }
  return new Error(`api: cannot listen on ${address}: ${why}`, { cause: err });
}

/**
 * The adapter hands over its own light Request class (it builds a real one lazily); Hono's
 * middleware (body-limit) constructs `new Request(req, ...)`, which Deno only accepts from a real
 * Request. Rebuilt once per request: the API is not a hot path.
 */
function denoRequest(req: Request): Request {
  if (Object.getPrototypeOf(req) === Request.prototype) return req;
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(req.url, {
    method: req.method,
    headers: req.headers,
    signal: req.signal,
    ...(hasBody ? { body: req.body, duplex: "half" } : {}),
  } as RequestInit);
}

/** Binds `server` to the address; resolves once listening, rejects with the bind error. */
function listen(server: Server, address: ApiAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: Error) => reject(err);
    server.once("error", failed);
    const done = () => {
      server.off("error", failed);
      resolve();
    };
    if (address.kind === "tcp") {
      server.listen({ port: address.port, host: address.hostname }, done);
      return;
    }
    const previous = Deno.umask(0o177);
    try {
      server.listen({ path: address.path }, done);
    } finally {
      Deno.umask(previous);
    }
  });
}

/**
 * Loads (or creates) the token, builds the app and starts serving. Throws one-line errors: bad
 * address, token file problems, address in use, live socket.
 *
 * @example
 * ```ts
 * const api = await startApiServer(
 *   { listen: "127.0.0.1:9560", tokenFile: "/etc/vigil/api-token", logger },
 *   { policies, events, status, health, metrics },
 * );
 * // ... on shutdown:
 * await api.close();
 * ```
 */
export async function startApiServer(
  options: ApiServerOptions,
  deps: ApiServerDeps,
): Promise<ApiServer> {
  const { logger } = options;
  const address = parseApiAddress(options.listen);
  const { token, created } = await loadOrCreateToken(options.tokenFile);
  if (created) logger.info("api: generated a new token", { token_file: options.tokenFile });

  const shutdown = new AbortController();
  const app = createApp({
    ...deps,
    token,
    shutdown: shutdown.signal,
    logger,
    ...(options.publicRoutes === undefined ? {} : { publicRoutes: options.publicRoutes }),
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
    ...(options.eventQueueLines === undefined ? {} : { eventQueueLines: options.eventQueueLines }),
  });
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };

  let socketIno: number | null = null;
  if (address.kind === "unix") {
    await Deno.mkdir(dirname(address.path), { recursive: true, mode: 0o755 });
    await clearStaleSocket(address.path);
  }
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // How often the timeouts above are checked.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1000, Math.floor(limits.headersTimeoutMs / 4)),
      ),
    },
    getRequestListener((req) => app.fetch(denoRequest(req)), {
      // Keep Deno's own Request/Response: the adapter would otherwise replace the globals.
      overrideGlobalObjects: false,
      errorHandler: (error) => {
        logger.error("api: unhandled error", { error: String(error) });
        return errorResponse(500, "internal error (see the agent's log)");
      },
    }),
  );
  // No socket inactivity timeout: a quiet /events stream is legitimate; a stalled one is dropped
  // by the event hub (its queue is bounded), idle keep-alive by keepAliveTimeout.
  server.timeout = 0;
  let limitLogged = 0;
  const cap = capConnections(server, limits.maxConnections, () => {
    const now = Date.now();
    if (now - limitLogged < 10_000) return;
    limitLogged = now;
    logger.warn("api: connection limit reached; cutting idle and slow connections", {
      max_connections: limits.maxConnections,
      ...cap.stats(),
    });
  });
  try {
    await listen(server, address);
  } catch (err) {
    throw listenError(formatApiAddress(address), err);
  }

  let bound: string;
  if (address.kind === "unix") {
    await Deno.chmod(address.path, 0o600);
    socketIno = (await Deno.lstat(address.path)).ino;
    bound = formatApiAddress(address);
  } else {
    const addr = server.address() as AddressInfo;
    bound = formatApiAddress({ kind: "tcp", hostname: addr.address, port: addr.port });
    if (!isLoopback(address)) {
      logger.warn(
        "api: listening beyond loopback: every route but the public ones needs the token",
        {
          address: bound,
        },
      );
    }
  }
  logger.info("api: listening", {
    address: bound,
    token_file: options.tokenFile,
    max_connections: limits.maxConnections,
    headers_timeout_ms: limits.headersTimeoutMs,
  });

  let closing: Promise<void> | null = null;
  return {
    address: bound,
    tokenCreated: created,
    connections: () => cap.stats(),
    close(): Promise<void> {
      closing ??= (async () => {
        shutdown.abort();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const graceMs = options.closeGraceMs ?? 2000;
        const closed = new Promise<"done">((r) => server.close(() => r("done")));
        server.closeIdleConnections();
        const outcome = await Promise.race([
          closed,
          new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), graceMs)),
        ]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          logger.warn("api: connections still open after the grace period; cutting them", {
            grace_ms: graceMs,
          });
          server.closeAllConnections();
          await closed;
        }
        if (address.kind === "unix") {
          const info = await statOrNull(address.path);
          // Only our own socket: a successor may already have replaced it.
          if (info !== null && info.isSocket && info.ino === socketIno) {
            await Deno.remove(address.path);
          }
        }
        logger.info("api: closed", { address: bound });
      })();
      return closing;
    },
  };
}
