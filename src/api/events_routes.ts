/**
 * `GET /events?type=&policy=&container=`: an NDJSON stream of export lines. Each parameter may
 * repeat or hold a comma-separated list; absent means "all". Each client has a bounded queue in
 * the event hub: a client that stops reading is dropped (the response is aborted) and counted,
 * and the agent never waits for it. Beyond the hub's limit of clients the answer is a 503. Each
 * read of the body takes at most {@link CHUNK_BYTES} of queued lines, so what sits in the
 * response pipeline per client is bounded too.
 *
 * @module
 */
import { Hono } from "hono";
import type { Logger } from "../log/logger.ts";
import { errorResponse } from "./_json.ts";
import { type EventHub, StreamLimitError } from "./types.ts";

/** Queued lines taken per body chunk, at most (one line longer than this goes alone). */
export const CHUNK_BYTES = 64 * 1024;

/** What the events route needs. */
export interface EventsDeps {
  readonly events: EventHub;
  /** Per-client queue in lines (default: the hub's). */
  readonly queueLines?: number;
  /** Ends every open stream when aborted (server shutdown). */
  readonly shutdown?: AbortSignal;
  readonly logger?: Logger;
}

/** NDJSON media type. */
export const NDJSON_CONTENT_TYPE = "application/x-ndjson";

function listParam(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "");
}

/**
 * The `/events` sub-app.
 *
 * @example
 * ```ts
 * app.route("/events", eventsRoutes({ events: hub }));
 * ```
 */
export function eventsRoutes(deps: EventsDeps): Hono {
  const app = new Hono();
  const encoder = new TextEncoder();

  app.get("/", (c) => {
    const filters = {
      types: listParam(c.req.queries("type")),
      policies: listParam(c.req.queries("policy")),
      containers: listParam(c.req.queries("container")),
    };
    let sub;
    try {
      sub = deps.events.subscribe({
        ...filters,
        ...(deps.queueLines === undefined ? {} : { queueLines: deps.queueLines }),
      });
    } catch (err) {
      if (!(err instanceof StreamLimitError)) throw err;
      // Connection: close: a refused client does not keep a connection slot.
      return errorResponse(503, `${err.message}; try again later`, { limit: err.limit }, {
        "retry-after": "5",
        connection: "close",
      });
    }
    // A client that disconnects cancels the body (see cancel below); shutdown ends it here.
    const stop = () => sub.close();
    deps.shutdown?.addEventListener("abort", stop, { once: true });
    if (deps.shutdown?.aborted) stop();

    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const batch = await sub.nextBatch(CHUNK_BYTES);
        if (batch !== null) {
          controller.enqueue(encoder.encode(batch.join("\n") + "\n"));
          return;
        }
        deps.shutdown?.removeEventListener("abort", stop);
        if (sub.dropped) {
          deps.logger?.warn("api: dropped a slow /events client", filters);
          // Abort rather than end: a client that stopped reading would otherwise hold the
          // connection (and the server's shutdown) until it drains.
          controller.error(new Error("event stream client fell too far behind"));
        } else {
          controller.close();
        }
      },
      cancel() {
        deps.shutdown?.removeEventListener("abort", stop);
        sub.close();
      },
    }, { highWaterMark: 1 });

    return new Response(body, {
      headers: { "content-type": NDJSON_CONTENT_TYPE, "cache-control": "no-store" },
    });
  });

  return app;
}
