/**
 * The API listener's connection cap. A plain cap (refuse beyond N) lets anyone who can connect
 * hold all N slots with connections that send nothing, and then `/healthz` is unreachable too.
 * Here a new connection is always accepted; when that passes the cap, the oldest connection with
 * no request in flight (still sending its headers, or idle between keep-alive requests) is cut to
 * make room. A connection that is being answered, an `/events` stream included (those have their
 * own, lower cap), is never cut; only when every slot is busy is the new connection refused.
 * Open connections therefore never exceed the cap, and a client that sends its request at once is
 * served even under a flood of slow or idle connections.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** What the cap did, for metrics and logs. */
export interface ConnectionCapStats {
  /** Open connections now. */
  readonly open: number;
  /** Connections cut to make room for a new one, since start. */
  readonly evicted: number;
  /** New connections refused because every slot was busy, since start. */
  readonly refused: number;
}

/** A running cap on one server. */
export interface ConnectionCap {
  stats(): ConnectionCapStats;
}

/**
 * Installs the cap on `server` (before it listens).
 *
 * @example
 * ```ts
 * const cap = capConnections(server, 256, () => logger.warn("api: connection limit reached"));
 * cap.stats(); // { open: 3, evicted: 0, refused: 0 }
 * ```
 */
export function capConnections(
  server: Server,
  max: number,
  onLimit: (what: "evicted" | "refused") => void,
): ConnectionCap {
  if (!Number.isInteger(max) || max < 1) {
    throw new RangeError(`maxConnections must be a positive integer, got ${max}`);
  }
  // Insertion order = least recently active first: a socket is moved to the end after each answer.
  const open = new Map<Socket, { busy: number }>();
  let evicted = 0;
  let refused = 0;

  server.on("connection", (socket: Socket) => {
    if (open.size >= max) {
      let victim: Socket | undefined;
      for (const [s, state] of open) {
        if (state.busy === 0) {
          victim = s;
          break;
        }
      }
      if (victim === undefined) {
        refused++;
        onLimit("refused");
        socket.destroy();
        return;
      }
      evicted++;
      onLimit("evicted");
      open.delete(victim);
      victim.destroy();
    }
    open.set(socket, { busy: 0 });
    socket.once("close", () => open.delete(socket));
  });

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as Socket;
    const state = open.get(socket);
    if (state === undefined) return;
    state.busy++;
    res.once("close", () => {
      state.busy--;
      if (open.has(socket)) {
        open.delete(socket);
        open.set(socket, state);
      }
    });
  });

  return {
    stats: () => ({ open: open.size, evicted, refused }),
  };
}
