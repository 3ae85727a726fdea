/**
 * Parses policy texts in a Worker with a deadline, so no text, however hostile, holds the event
 * loop that drains the ring buffer, exports events and answers `/healthz`. The limits in
 * `input_limits.ts` already bound a parse to well under a second; the Worker and the deadline
 * make sure that stays true of whatever those limits missed.
 *
 * One worker, started on first use, parses one text at a time and is stopped after a while idle.
 * A parse past the deadline terminates it (the next parse starts a fresh one) and answers a
 * located error. If the worker cannot start at all (e.g. a build that left its module out), the
 * parse runs on the calling thread, bounded by the limits alone, and that is logged once.
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { clip } from "./bound_issues.ts";
import { POLICY_INPUT_LIMITS } from "./input_limits.ts";
import type { ParseResult } from "./parse.ts";
import { parsePolicyLazily } from "./parse_lazy.ts";

/** Message to the worker. */
export interface ParseRequest {
  readonly id: number;
  readonly text: string;
  readonly file: string;
}

/** Message from the worker: `ready` once loaded, then one reply per request. */
export type ParseReply = { readonly ready: true } | {
  readonly id: number;
  readonly result: ParseResult;
};

/** Options of an {@link OffThreadParser}. */
export interface OffThreadParserOptions {
  /** Wall-clock limit of one parse (default {@link POLICY_INPUT_LIMITS.parseDeadlineMs}). */
  readonly deadlineMs?: number;
  /**
   * The worker stops after this long without work (default 2 s: an idle worker holds ~40 MiB of
   * RSS; a later parse starts a new one in ~0.1 s); 0 keeps it.
   */
  readonly idleMs?: number;
  readonly logger?: Logger;
  /** The worker module (tests point it at a slow one). */
  readonly workerUrl?: URL;
}

const WORKER_URL = new URL("./parse_worker.ts", import.meta.url);
/** How long a worker may take to load before parses fall back to the calling thread. */
const START_TIMEOUT_MS = 60_000;

function failure(file: string, message: string): ParseResult {
  return { errors: [{ file, line: 1, column: 1, path: "", message }], warnings: [] };
}

interface Running {
  readonly worker: Worker;
  /** Resolves once the worker has loaded; false when it failed to. */
  readonly ready: Promise<boolean>;
}

/** Parses policy texts off the calling thread; {@link close} stops the worker. */
export class OffThreadParser {
  readonly #deadlineMs: number;
  readonly #idleMs: number;
  readonly #logger: Logger | undefined;
  readonly #url: URL;
  #running: Running | null = null;
  #inThread = false;
  #nextId = 1;
  #idle: ReturnType<typeof setTimeout> | undefined;
  /** One parse at a time: the deadline measures the parse, not a wait behind another one. */
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: OffThreadParserOptions = {}) {
    this.#deadlineMs = options.deadlineMs ?? POLICY_INPUT_LIMITS.parseDeadlineMs;
    this.#idleMs = options.idleMs ?? 2_000;
    this.#logger = options.logger;
    this.#url = options.workerUrl ?? WORKER_URL;
  }

  /** Whether parses run on the calling thread because the worker could not start. */
  get inThread(): boolean {
    return this.#inThread;
  }

  /** Parses `text` (labelled `file`) within the deadline; never rejects. */
  parse(text: string, file: string): Promise<ParseResult> {
    const next = this.#chain.then(() => this.#parse(text, file));
    this.#chain = next.catch(() => {});
    return next;
  }

  #start(): Running {
    const worker = new Worker(this.#url.href, { type: "module" });
    const ready = new Promise<boolean>((resolve) => {
      // Loading takes ~0.1 s (seconds where the worker is type-checked, as under `deno test`).
      const late = setTimeout(() => {
        this.#logger?.error("policy parser worker did not start; parsing on the main thread");
        resolve(false);
      }, START_TIMEOUT_MS);
      worker.onmessage = (e: MessageEvent<ParseReply>) => {
        clearTimeout(late);
        if ("ready" in e.data) resolve(true);
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        clearTimeout(late);
        this.#logger?.error("policy parser worker failed to start; parsing on the main thread", {
          error: clip(String(e.message)),
        });
        resolve(false);
      };
    });
    return { worker, ready };
  }

  #stop(): void {
    clearTimeout(this.#idle);
    this.#running?.worker.terminate();
    this.#running = null;
  }

  async #parse(text: string, file: string): Promise<ParseResult> {
    if (this.#closed) return failure(file, "the policy parser is closed");
    clearTimeout(this.#idle);
    if (!this.#inThread && this.#running === null) this.#running = this.#start();
    const running = this.#running;
    if (running !== null && !(await running.ready)) {
      this.#stop();
      this.#inThread = true;
    }
    if (this.#inThread || this.#running === null) return parsePolicyLazily(text, file);
    const { worker } = this.#running;
    const id = this.#nextId++;
    const result = await new Promise<ParseResult | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), this.#deadlineMs);
      worker.onmessage = (e: MessageEvent<ParseReply>) => {
        if ("id" in e.data && e.data.id === id) {
          clearTimeout(timer);
          resolve(e.data.result);
        }
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        clearTimeout(timer);
        // A worker that threw is done for: the next parse starts a fresh one.
        this.#stop();
        resolve(failure(file, `the policy parser failed: ${clip(String(e.message))}`));
      };
      worker.postMessage({ id, text, file } satisfies ParseRequest);
    });
    if (result === null) {
      // Abandoned: the worker may be stuck in the text; a fresh one takes the next.
      this.#stop();
      this.#logger?.warn("policy parse abandoned at its deadline", {
        file: clip(file),
        deadline_ms: this.#deadlineMs,
      });
      return failure(
        file,
        `parsing took longer than ${this.#deadlineMs} ms and was abandoned (vigil's limit)`,
      );
    }
    if (this.#idleMs > 0) {
      const idle = setTimeout(() => this.#stop(), this.#idleMs);
      Deno.unrefTimer(idle);
      this.#idle = idle;
    }
    return result;
  }

  /** Stops the worker; later parses answer an error. */
  close(): void {
    this.#closed = true;
    this.#stop();
  }
}
