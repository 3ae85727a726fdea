/**
 * Serves the API app with `Deno.serve` on a TCP address or a unix socket. The unix socket is
 * created with mode 0600 (the umask is tightened around the bind, so it is never reachable with
 * looser permissions), a stale socket file left by a crashed agent is removed first, and a live
 * one (another agent) is refused.
 *
 * @module
 */
import { dirname } from "node:path";
import type { Logger } from "../log/logger.ts";
import { type ApiAddress, formatApiAddress, isLoopback, parseApiAddress } from "./address.ts";
import { type AppDeps, createApp } from "./app.ts";
import { errorResponse } from "./_json.ts";
import { loadOrCreateToken } from "./token.ts";

/** How and where to serve. */
export interface ApiServerOptions {
  /** `HOST:PORT` (port 0 picks a free port) or `unix:PATH`. */
  readonly listen: string;
  /** Bearer token file; created (0600) when absent. */
  readonly tokenFile: string;
  /** Request body limit in bytes (default 1 MiB). */
  readonly bodyLimitBytes?: number;
  /** Per-client `/events` queue in lines (default 10,000). */
  readonly eventQueueLines?: number;
  /**
   * How long {@link ApiServer.close} waits for open connections (default 2000 ms). A client that
   * stopped reading can hold its connection until it reads or disconnects; close() does not wait
   * for it longer than this.
   */
  readonly closeGraceMs?: number;
  readonly logger: Logger;
}

/** The agent-side dependencies of the API (the server adds the token, limits and shutdown). */
export type ApiServerDeps = Omit<
  AppDeps,
  "token" | "bodyLimitBytes" | "eventQueueLines" | "shutdown" | "logger"
>;

/** A running API server. */
export interface ApiServer {
  /** Where it listens, e.g. `127.0.0.1:9560` (the real port when 0 was asked) or `unix:/path`. */
  readonly address: string;
  /** Whether the token file was created by this start. */
  readonly tokenCreated: boolean;
  /**
   * Stops accepting connections, ends `/events` streams, waits (up to the grace period) for
   * in-flight requests, removes the unix socket. Idempotent.
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
  if (err instanceof Deno.errors.AddrInUse) why = "address already in use";
  else if (err instanceof Deno.errors.PermissionDenied) why = "permission denied";
  else if (err instanceof Deno.errors.AddrNotAvailable) why = "address not available";
  return new Error(`api: cannot listen on ${address}: ${why}`, { cause: err });
}

function serve(
  address: ApiAddress,
  handler: Deno.ServeHandler,
  onError: (error: unknown) => Response,
): Deno.HttpServer<Deno.NetAddr> | Deno.HttpServer<Deno.UnixAddr> {
  const common = { handler, onError, onListen: () => {} };
  if (address.kind === "tcp") {
    return Deno.serve({ ...common, hostname: address.hostname, port: address.port });
  }
  const previous = Deno.umask(0o177);
  try {
    return Deno.serve({ ...common, transport: "unix", path: address.path });
  } finally {
    Deno.umask(previous);
  }
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
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
    ...(options.eventQueueLines === undefined ? {} : { eventQueueLines: options.eventQueueLines }),
  });

  let socketIno: number | null = null;
  if (address.kind === "unix") {
    await Deno.mkdir(dirname(address.path), { recursive: true, mode: 0o755 });
    await clearStaleSocket(address.path);
  }
  let server: Deno.HttpServer<Deno.NetAddr> | Deno.HttpServer<Deno.UnixAddr>;
  try {
    server = serve(address, (req) => app.fetch(req), (error) => {
      logger.error("api: unhandled error", { error: String(error) });
      return errorResponse(500, "internal error (see the agent's log)");
    });
  } catch (err) {
    throw listenError(formatApiAddress(address), err);
  }

  let bound: string;
  if (address.kind === "unix") {
    await Deno.chmod(address.path, 0o600);
    socketIno = (await Deno.lstat(address.path)).ino;
    bound = formatApiAddress(address);
  } else {
    const addr = server.addr as Deno.NetAddr;
    bound = formatApiAddress({ kind: "tcp", hostname: addr.hostname, port: addr.port });
    if (!isLoopback(address)) {
      logger.warn("api: listening beyond loopback; read-only routes need no token", {
        address: bound,
      });
    }
  }
  logger.info("api: listening", { address: bound, token_file: options.tokenFile });

  let closing: Promise<void> | null = null;
  return {
    address: bound,
    tokenCreated: created,
    close(): Promise<void> {
      closing ??= (async () => {
        shutdown.abort();
        let timer: ReturnType<typeof setTimeout> | undefined;
        const graceMs = options.closeGraceMs ?? 2000;
        const outcome = await Promise.race([
          server.shutdown().then(() => "done" as const),
          new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), graceMs)),
        ]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          logger.warn("api: connections still open after the grace period; not waiting", {
            grace_ms: graceMs,
          });
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
