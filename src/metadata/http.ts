/**
 * JSON over HTTP for the Docker, Garden and Kubernetes sources: over a unix socket (Docker,
 * Garden) or TCP/TLS (Kubernetes), with a deadline on every request.
 *
 * @module
 */

/** An HTTP error status. */
export class HttpStatusError extends Error {
  readonly status: number;
  readonly body: string;

  constructor(url: string, status: number, body: string) {
    super(`${url}: HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ""}`);
    this.name = "HttpStatusError";
    this.status = status;
    this.body = body;
  }
}

/** An HTTP client whose connections go to the unix socket at `path` (the URL's host is ignored). */
export function unixSocketClient(path: string): Deno.HttpClient {
  return Deno.createHttpClient({ proxy: { transport: "unix", path } });
}

/** Options of {@link getJson}. */
export interface GetJsonOptions {
  client?: Deno.HttpClient;
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** Also aborts the request. */
  signal?: AbortSignal;
}

/** GETs `url` and parses JSON; rejects on non-2xx (with the body), timeout or bad JSON. */
export async function getJson<T = unknown>(url: string, options: GetJsonOptions = {}): Promise<T> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 5000);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const res = await fetch(url, {
    client: options.client,
    headers: { accept: "application/json", ...options.headers },
    signal,
  });
  const text = await res.text();
  if (!res.ok) throw new HttpStatusError(url, res.status, text);
  return JSON.parse(text) as T;
}
