/**
 * The HTTP client the CLI verbs (`status`, `policy ...`, `events`, `top`) share: address and token
 * flags, one-line errors for an unreachable agent or a refused request, and table formatting.
 *
 * @module
 */
import { type ApiAddress, DEFAULT_API_ADDRESS, parseApiAddress } from "../api/address.ts";
import { DEFAULT_TOKEN_FILE } from "../api/token.ts";
import { UsageError } from "./command.ts";

/** The flags every client verb accepts. */
export const API_FLAGS = {
  api: { type: "string" },
  "api-token-file": { type: "string" },
} as const;

/** `--help` lines for {@link API_FLAGS}. */
export const API_FLAGS_USAGE =
  `  --api ADDR                the agent's API: HOST:PORT or unix:PATH (default ${DEFAULT_API_ADDRESS})
  --api-token-file FILE     the API's bearer token, sent with every request when readable;
                            events, policies and status need it (default ${DEFAULT_TOKEN_FILE})`;

/** A failure talking to the agent: printed as one line, exit status 1. */
export class ApiError extends Error {
  override name = "ApiError";
  /** HTTP status, when the agent answered. */
  readonly status: number | undefined;
  /** The agent's JSON error body, when it sent one. */
  readonly body: Record<string, unknown> | undefined;

  constructor(message: string, status?: number, body?: Record<string, unknown>) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Options of one request. */
export interface RequestOptions {
  readonly body?: string;
  readonly contentType?: string;
  /**
   * The bearer token: `true` requires it (changes: an unreadable token file is an error before
   * anything is sent); by default it is sent when the token file is readable (reads: the agent's
   * public routes answer without it, the others say 401).
   */
  readonly auth?: boolean;
  /** Default: a 60 s timeout (none for streams, pass your own). */
  readonly signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 60_000;

function reason(err: unknown): string {
  const text = [err, err instanceof Error ? err.cause : undefined].map(String).join(" ");
  if (/connection refused|os error 111/i.test(text)) return "connection refused";
  if (/no such file|os error 2\b/i.test(text)) return "no such socket";
  if (/permission denied|os error 13/i.test(text)) return "permission denied";
  if (/timed? ?out|TimeoutError/i.test(text)) return "timed out";
  if (/dns error|failed to lookup/i.test(text)) return "unknown host";
  const first = err instanceof Error ? err.message : String(err);
  return first.split("\n")[0] ?? first;
}

/** Talks to one agent's API. */
export class ApiClient implements Disposable {
  /** The address as given, for messages. */
  readonly address: string;
  readonly tokenFile: string;
  readonly #target: ApiAddress;
  readonly #client: Deno.HttpClient | undefined;
  readonly #base: string;
  #token: string | undefined;
  /** Why the token file could not be read, once tried. */
  #tokenProblem: string | undefined;

  constructor(options: { readonly api: string; readonly tokenFile: string }) {
    this.address = options.api;
    this.tokenFile = options.tokenFile;
    try {
      this.#target = parseApiAddress(options.api);
    } catch (err) {
      throw new UsageError(`--api: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.#target.kind === "unix") {
      this.#client = Deno.createHttpClient({
        proxy: { transport: "unix", path: this.#target.path },
      });
      this.#base = "http://vigil";
    } else {
      this.#client = undefined;
      const h = this.#target.hostname;
      this.#base = `http://${h.includes(":") ? `[${h}]` : h}:${this.#target.port}`;
    }
  }

  /** Builds a client from parsed `--api` / `--api-token-file` values. */
  static fromFlags(values: Record<string, unknown>): ApiClient {
    return new ApiClient({
      api: (values.api as string | undefined) ?? DEFAULT_API_ADDRESS,
      tokenFile: (values["api-token-file"] as string | undefined) ?? DEFAULT_TOKEN_FILE,
    });
  }

  async #readToken(): Promise<string> {
    const token = await this.#tryToken();
    if (token !== undefined) return token;
    throw new ApiError(this.#tokenMessage("changes"));
  }

  /** The token, or undefined when its file cannot be read (the reason is kept for messages). */
  async #tryToken(): Promise<string | undefined> {
    if (this.#token !== undefined || this.#tokenProblem !== undefined) return this.#token;
    try {
      this.#token = (await Deno.readTextFile(this.tokenFile)).trim();
    } catch (err) {
      this.#tokenProblem = err instanceof Deno.errors.NotFound
        ? "no such file"
        : err instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : reason(err);
    }
    return this.#token;
  }

  #tokenMessage(what: string): string {
    return `cannot read the API token from ${this.tokenFile}: ${this.#tokenProblem} — ${what} ` +
      "need the token (run as root, or pass --api-token-file)";
  }

  /**
   * Sends a request; throws {@link ApiError} when the agent cannot be reached. Any HTTP status
   * is returned as is.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers = new Headers();
    const token = options.auth ? await this.#readToken() : await this.#tryToken();
    if (token !== undefined) headers.set("authorization", `Bearer ${token}`);
    if (options.contentType) headers.set("content-type", options.contentType);
    try {
      return await fetch(this.#base + path, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: options.body }),
        ...(this.#client === undefined ? {} : { client: this.#client }),
        signal: options.signal ?? AbortSignal.timeout(DEFAULT_TIMEOUT_MS),
      });
    } catch (err) {
      throw new ApiError(
        `cannot reach the vigil API at ${this.address}: ${reason(err)} — is \`vigil run\` running?`,
      );
    }
  }

  /**
   * Sends a request and parses the JSON answer. A non-2xx answer throws {@link ApiError} with
   * the agent's message unless its status is in `accept`.
   */
  async json<T>(
    method: string,
    path: string,
    options: RequestOptions & { readonly accept?: readonly number[] } = {},
  ): Promise<{ status: number; body: T }> {
    const res = await this.request(method, path, options);
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(
        `unexpected answer from ${this.address} (${res.status}, not JSON): ${text.slice(0, 200)}`,
        res.status,
      );
    }
    if (!res.ok && !(options.accept ?? []).includes(res.status)) {
      throw this.errorFrom(res.status, body);
    }
    return { status: res.status, body: body as T };
  }

  /** The one-line error for an error answer (`{ "error": ... }`). */
  errorFrom(status: number, body: unknown): ApiError {
    const record = typeof body === "object" && body !== null
      ? body as Record<string, unknown>
      : undefined;
    const message = typeof record?.error === "string" ? record.error : `HTTP ${status}`;
    if (status === 401 && this.#tokenProblem !== undefined) {
      return new ApiError(
        `${this.#tokenMessage("events, policies and status")} (401: ${message})`,
        status,
        record,
      );
    }
    if (status === 401) {
      return new ApiError(
        `the agent refused the token from ${this.tokenFile} (401): ${message}`,
        status,
        record,
      );
    }
    return new ApiError(`${message} (HTTP ${status})`, status, record);
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#client?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Formats rows as left-aligned columns separated by two spaces.
 *
 * @example
 * ```ts
 * formatTable(["NAME", "STATE"], [["etc-reads", "enabled"]]);
 * // "NAME       STATE\netc-reads  enabled"
 * ```
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}
