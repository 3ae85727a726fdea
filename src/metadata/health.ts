/**
 * Health bookkeeping and retry backoff shared by the metadata sources, and a timeout helper.
 *
 * @module
 */
import type { SourceHealth, SourceState } from "./types.ts";

/** Exponential backoff with jitter between `minMs` and `maxMs`. */
export class Backoff {
  readonly minMs: number;
  readonly maxMs: number;
  #attempt = 0;

  constructor(minMs = 500, maxMs = 30_000) {
    this.minMs = minMs;
    this.maxMs = Math.max(minMs, maxMs);
  }

  /** The delay before the next attempt; each call doubles it up to `maxMs` (±20% jitter). */
  next(): number {
    const base = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    const jitter = base * 0.2 * (Math.random() * 2 - 1);
    return Math.max(this.minMs, Math.min(this.maxMs, Math.round(base + jitter)));
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Options of {@link HealthTracker}. */
export interface HealthTrackerOptions {
  /** First retry delay after a failure; default 500 ms. */
  backoffMinMs?: number;
  /** Longest retry delay; default 30 s. */
  backoffMaxMs?: number;
  /** Clock in ms; default `Date.now`. */
  now?: () => number;
}

/**
 * The health of one source: `up` after a success, `down` after a failure (with the error and a
 * backoff deadline before which new requests are skipped), `disabled` when configured off or
 * when its endpoint does not exist and was not asked for explicitly.
 */
export class HealthTracker {
  #state: SourceState;
  #lastError: string | undefined;
  #lastSyncMs: number | undefined;
  #retryAt = 0;
  #refreshErrors = 0;
  readonly #backoff: Backoff;
  readonly #now: () => number;

  constructor(initial: SourceState = "down", options: HealthTrackerOptions = {}) {
    this.#state = initial;
    this.#backoff = new Backoff(options.backoffMinMs ?? 500, options.backoffMaxMs ?? 30_000);
    this.#now = options.now ?? Date.now;
  }

  get state(): SourceState {
    return this.#state;
  }

  /** Failed refreshes so far. */
  get refreshErrors(): number {
    return this.#refreshErrors;
  }

  /** A request succeeded; `synced` when it was a full sync. */
  ok(synced = false): void {
    if (this.#state === "disabled") return;
    this.#state = "up";
    this.#lastError = undefined;
    this.#retryAt = 0;
    this.#backoff.reset();
    if (synced) this.#lastSyncMs = this.#now();
  }

  /** A request failed: down, with the error, until the backoff delay has passed. */
  fail(err: unknown, kind: "sync" | "refresh" = "sync"): void {
    if (kind === "refresh") this.#refreshErrors++;
    if (this.#state === "disabled") return;
    this.#state = "down";
    this.#lastError = errorText(err);
    this.#retryAt = this.#now() + this.#backoff.next();
  }

  /** Turns the source off (or back on, to `down`, with `enabled` true). */
  disable(reason?: string): void {
    this.#state = "disabled";
    this.#lastError = reason;
  }

  enable(): void {
    if (this.#state === "disabled") this.#state = "down";
    this.#retryAt = 0;
  }

  /** False while down and inside the backoff delay: callers skip the request. */
  mayTry(): boolean {
    if (this.#state === "disabled") return false;
    return this.#state === "up" || this.#now() >= this.#retryAt;
  }

  snapshot(entries?: number): SourceHealth {
    const h: SourceHealth = { state: this.#state };
    if (this.#lastError !== undefined) h.lastError = this.#lastError;
    if (this.#lastSyncMs !== undefined) h.lastSyncMs = this.#lastSyncMs;
    if (entries !== undefined) h.entries = entries;
    h.refreshErrors = this.#refreshErrors;
    return h;
  }
}

/** A short text for an error of any type. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Error raised by {@link withTimeout}. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = "TimeoutError";
  }
}

/** Resolves like `promise`, or rejects with {@link TimeoutError} after `ms`; clears its timer. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Whether a unix socket (or any file) exists at `path`. */
export function socketExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Applies a socket source's `enabled` mode: false → off; "auto" → disabled (with the reason in
 * its health) while `socketPath` is absent, enabled again once it appears; true → always on (an
 * absent socket then shows as `down` at the next request). Returns whether to talk to it now.
 */
export function detectSocket(
  mode: boolean | "auto",
  socketPath: string,
  health: HealthTracker,
): boolean {
  if (mode === false) return false;
  if (mode === "auto") {
    if (!socketExists(socketPath)) {
      if (health.state !== "disabled") health.disable(`no socket at ${socketPath}`);
      return false;
    }
    health.enable();
  }
  return true;
}
