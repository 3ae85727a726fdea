/**
 * Worker entry of `parse_off_thread.ts`: says it is ready, then parses one policy text per
 * message and posts the result back. A throw becomes an error result, so a text never ends the
 * worker silently.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { clip } from "./bound_issues.ts";
import { parsePolicy } from "./parse.ts";
import type { ParseReply, ParseRequest } from "./parse_off_thread.ts";

self.onmessage = (e: MessageEvent<ParseRequest>) => {
  const { id, text, file } = e.data;
  let reply: ParseReply;
  try {
    reply = { id, result: parsePolicy(text, file) };
  } catch (err) {
    const why = clip(err instanceof Error ? err.message : String(err));
    const message = `cannot parse: ${why}`;
    reply = {
      id,
      result: { errors: [{ file, line: 1, column: 1, path: "", message }], warnings: [] },
    };
  }
  self.postMessage(reply);
};

self.postMessage({ ready: true } satisfies ParseReply);
