/**
 * systemd readiness notification (sd_notify(3)) for `Type=notify` units: one datagram of
 * `KEY=VALUE` lines to the socket in `$NOTIFY_SOCKET` (a path, or an abstract name starting with
 * `@`). When the variable is unset (not started by systemd) every call is a no-op.
 *
 * @module
 */
import { sendUnixDatagram } from "../ffi/unix_dgram.ts";

/** What a notification did. */
export type NotifyResult =
  | { readonly sent: true; readonly socket: string }
  | { readonly sent: false; readonly reason: "no NOTIFY_SOCKET" }
  | { readonly sent: false; readonly socket?: string; readonly error: string };

/** Options shared by the notify functions. */
export interface NotifyOptions {
  /** The socket; default `$NOTIFY_SOCKET`. */
  readonly socket?: string | undefined;
}

function socketOf(options: NotifyOptions): string | undefined | { error: string } {
  if ("socket" in options) return options.socket;
  try {
    return Deno.env.get("NOTIFY_SOCKET");
  } catch (err) {
    // Under systemd this would end in a start timeout: say why instead of staying silent.
    return { error: `cannot read $NOTIFY_SOCKET (needs --allow-env=NOTIFY_SOCKET): ${err}` };
  }
}

/**
 * Sends raw sd_notify state lines, e.g. `["READY=1", "STATUS=running"]`. Never throws: a failure
 * is returned for the caller to log (readiness must not crash the agent).
 *
 * @example
 * ```ts
 * const r = sdNotify(["STATUS=reloading policies"]);
 * if (!r.sent && "error" in r) logger.warn("sd_notify failed", { error: r.error });
 * ```
 */
export function sdNotify(lines: readonly string[], options: NotifyOptions = {}): NotifyResult {
  const socket = socketOf(options);
  if (typeof socket === "object") return { sent: false, error: socket.error };
  if (socket === undefined || socket === "") return { sent: false, reason: "no NOTIFY_SOCKET" };
  for (const line of lines) {
    if (line.includes("\n") || !line.includes("=")) {
      return { sent: false, socket, error: `bad sd_notify line ${JSON.stringify(line)}` };
    }
  }
  try {
    sendUnixDatagram(socket, new TextEncoder().encode(lines.join("\n") + "\n"));
    return { sent: true, socket };
  } catch (err) {
    return { sent: false, socket, error: err instanceof Error ? err.message : String(err) };
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, "; ");
}

/**
 * Tells systemd the agent is ready (`READY=1`), with an optional status line.
 *
 * @example
 * ```ts
 * notifyReady("monitoring: 3 policies, 12 programs attached");
 * ```
 */
export function notifyReady(status?: string, options: NotifyOptions = {}): NotifyResult {
  const lines = ["READY=1"];
  if (status !== undefined) lines.push(`STATUS=${oneLine(status)}`);
  return sdNotify(lines, options);
}

/** Tells systemd the agent is reloading (`RELOADING=1`); send {@link notifyReady} when done. */
export function notifyReloading(options: NotifyOptions = {}): NotifyResult {
  return sdNotify(["RELOADING=1"], options);
}

/** Tells systemd the agent is stopping (`STOPPING=1`). */
export function notifyStopping(status?: string, options: NotifyOptions = {}): NotifyResult {
  const lines = ["STOPPING=1"];
  if (status !== undefined) lines.push(`STATUS=${oneLine(status)}`);
  return sdNotify(lines, options);
}
