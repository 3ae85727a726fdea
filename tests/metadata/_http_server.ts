/**
 * Local HTTP servers for the metadata-source tests: on a unix socket (Docker, Garden) or on
 * 127.0.0.1 (Kubernetes), recording the requests they answer.
 *
 * @module
 */

/** A running test server. */
export interface TestServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` for TCP servers, the socket path for unix ones. */
  readonly address: string;
  /** Path + query of every request, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

/** A request handler; `closing` aborts when the server closes (for handlers that stall). */
type Handler = (req: Request, url: URL, closing: AbortSignal) => Response | Promise<Response>;

function wrap(
  handler: Handler,
  requests: string[],
  closing: AbortSignal,
): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    requests.push(url.pathname + url.search);
    try {
      return await handler(req, url, closing);
    } catch (err) {
      return new Response(String(err), { status: 500 });
    }
  };
}

function server(
  address: string,
  requests: string[],
  s: Deno.HttpServer,
  ac: AbortController,
): TestServer {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    ac.abort();
    await s.finished;
  };
  return { address, requests, close, [Symbol.asyncDispose]: close };
}

/** Serves `handler` on a unix socket at `path` (replacing a stale socket file). */
export function serveUnix(path: string, handler: Handler): TestServer {
  try {
    Deno.removeSync(path);
  } catch {
    // none
  }
  const requests: string[] = [];
  const ac = new AbortController();
  const s = Deno.serve(
    { path, transport: "unix", signal: ac.signal, onListen() {} },
    wrap(handler, requests, ac.signal),
  );
  return server(path, requests, s, ac);
}

/** Serves `handler` on 127.0.0.1 at an ephemeral port. */
export function serveTcp(handler: Handler, port = 0): TestServer {
  const requests: string[] = [];
  const ac = new AbortController();
  const s = Deno.serve(
    { hostname: "127.0.0.1", port, signal: ac.signal, onListen() {} },
    wrap(handler, requests, ac.signal),
  );
  return server(`http://127.0.0.1:${s.addr.port}`, requests, s, ac);
}

/** A JSON response. */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Resolves after `ms`, or when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Reads a fixture under tests/fixtures/metadata/. */
export function fixture(rel: string): string {
  return Deno.readTextFileSync(new URL(`../fixtures/metadata/${rel}`, import.meta.url));
}

/** Parses a JSON fixture under tests/fixtures/metadata/. */
export function fixtureJson<T = unknown>(rel: string): T {
  return JSON.parse(fixture(rel)) as T;
}
