/**
 * The Hono app through `app.request()` with fake deps: every route and error code, auth on every
 * mutating route, body limits, JSON errors without stacks, request metrics.
 */
import assert from "node:assert/strict";
import { createApp } from "../../src/api/app.ts";
import { createLogger } from "../../src/log/logger.ts";
import { AUTH, examplePolicy, fakes, TOKEN } from "./_fakes.ts";

async function json(res: Response): Promise<Record<string, unknown>> {
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  return await res.json();
}

/** An error answer: JSON with a string `error` and nothing that looks like a stack trace. */
async function assertJsonError(res: Response, status: number, pattern?: RegExp) {
  assert.equal(res.status, status);
  const text = await res.text();
  const body = JSON.parse(text);
  assert.equal(typeof body.error, "string", text);
  if (pattern) assert.match(body.error, pattern);
  assert.doesNotMatch(text, /\bat .*\.(ts|js):\d+/, "no stack trace in error bodies");
  return body;
}

Deno.test("GET /healthz answers 200 when alive and 503 JSON when not", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  assert.deepEqual(await json(await app.request("/healthz")), { status: "ok" });
  f.health.alive = false;
  await assertJsonError(await app.request("/healthz"), 503, /not alive/);
});

Deno.test("GET /readyz answers 200 when ready and 503 with the reason when not", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  assert.deepEqual(await json(await app.request("/readyz")), { ready: true });
  f.health.ready = false;
  f.health.reason = "attaching programs";
  const body = await assertJsonError(await app.request("/readyz"), 503, /attaching programs/);
  assert.equal(body.ready, false);
  assert.equal(body.reason, "attaching programs");
});

Deno.test("GET /status returns the status object with bigints as strings", async () => {
  const app = createApp(fakes().deps);
  const res = await app.request("/status", { headers: AUTH });
  assert.equal(res.status, 200);
  const body = await json(res);
  assert.equal(body.version, "0.1.0");
  assert.deepEqual(body.programs, [{ name: "vigil_exec", id: 11, runs: "5" }]);
});

Deno.test("GET /metrics serves the text format with build info and counted requests", async () => {
  const app = createApp(fakes().deps);
  await app.request("/healthz");
  await app.request("/nope", { headers: AUTH });
  await app.request("/policies", { method: "POST", body: "x" });
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  assert.match(text, /^# HELP vigil_build_info /m);
  assert.match(text, /^vigil_build_info\{version="0\.1\.0",deno="[^"]+",libbpf="1\.1"\} 1$/m);
  assert.match(text, /^vigil_api_requests_total\{method="GET",route="\/healthz",code="200"\} 1$/m);
  assert.match(text, /^vigil_api_requests_total\{method="GET",route="unmatched",code="404"\} 1$/m);
  assert.match(
    text,
    /^vigil_api_requests_total\{method="POST",route="\/policies",code="401"\} 1$/m,
  );
  assert.match(
    text,
    /^vigil_events_total\{type="process_kprobe",policy="etc-sensitive-reads"\} 2$/m,
  );
  assert.match(
    text,
    /^vigil_bpf_program_runs_total\{id="12",program="generic_kprobe",policy="etc-sensitive-reads"\} \d+$/m,
  );
});

Deno.test("GET /policies lists, GET /policies/:name returns YAML, unknown name is 404", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  assert.deepEqual(await json(await app.request("/policies", { headers: AUTH })), {
    policies: [],
  });
  const yaml = examplePolicy("etc_reads.yaml");
  assert.equal((await f.policies.apply(yaml, "test")).ok, true);

  const list = await json(await app.request("/policies", { headers: AUTH }));
  assert.deepEqual((list.policies as { name: string }[]).map((p) => p.name), [
    "etc-sensitive-reads",
  ]);

  const res = await app.request("/policies/etc-sensitive-reads", { headers: AUTH });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/yaml; charset=utf-8");
  assert.equal(await res.text(), yaml);

  const missing = await assertJsonError(
    await app.request("/policies/nope", { headers: AUTH }),
    404,
    /no policy named 'nope'/,
  );
  assert.equal(missing.name, "nope");
});

Deno.test("POST /policies adds (200), replaces (200, replaced) and passes source 'api'", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  const yaml = examplePolicy("connect_port.yaml");
  const post = () => app.request("/policies", { method: "POST", headers: AUTH, body: yaml });

  const first = await json(await post());
  assert.equal(first.replaced, false);
  const policy = first.policy as { name: string; state: string; hooks: unknown[] };
  assert.equal(policy.name, "connect-port");
  assert.equal(policy.state, "enabled");
  assert.equal(policy.hooks.length, 1);

  const second = await post();
  assert.equal(second.status, 200);
  assert.equal((await json(second)).replaced, true);
  assert.deepEqual(f.policies.applied.map((a) => a.source), ["api", "api"]);
});

Deno.test("POST /policies with an invalid policy answers 400 with precise errors", async () => {
  const app = createApp(fakes().deps);
  const yaml = [
    "apiVersion: cilium.io/v1alpha1",
    "kind: TracingPolicy",
    "metadata:",
    "  name: broken",
    "spec:",
    "  kprobes:",
    "    - call: [3]",
    "      bogus: 1",
  ].join("\n");
  const res = await app.request("/policies", { method: "POST", headers: AUTH, body: yaml });
  const body = await assertJsonError(
    res,
    400,
    /^policy rejected: .*\(line 7, column 13\) \(and 1 more\)$/,
  );
  const errors = body.errors as { line: number; column: number; path: string; message: string }[];
  assert.deepEqual(errors.map((e) => [e.line, e.column, e.path]), [
    [7, 13, "spec.kprobes[0].call"],
    [8, 7, "spec.kprobes[0].bogus"],
  ]);

  await assertJsonError(
    await app.request("/policies", { method: "POST", headers: AUTH, body: "  \n" }),
    400,
    /empty request body/,
  );
  await assertJsonError(
    await app.request("/policies", { method: "POST", headers: AUTH, body: "a: [unclosed" }),
    400,
    /policy rejected/,
  );
});

Deno.test("every mutating route refuses a missing, malformed or wrong token with 401 JSON", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  await f.policies.apply(examplePolicy("connect_port.yaml"), "test");
  const routes: [string, string][] = [
    ["POST", "/policies"],
    ["DELETE", "/policies/connect-port"],
    ["POST", "/policies/reload"],
    ["PUT", "/policies/connect-port"],
    ["PATCH", "/policies"],
    ["POST", "/anything"],
  ];
  const headerSets: [string, Record<string, string>][] = [
    ["missing", {}],
    ["wrong", { authorization: `Bearer ${TOKEN}x` }],
    ["malformed", { authorization: "Basic dXNlcjpwYXNz" }],
    ["bad characters", { authorization: 'Bearer a b"c' }],
    ["empty bearer", { authorization: "Bearer " }],
  ];
  for (const [method, path] of routes) {
    for (const [what, headers] of headerSets) {
      const res = await app.request(path, {
        method,
        headers,
        body: method === "POST" ? "x" : null,
      });
      const body = await assertJsonError(res, 401);
      assert.ok(
        res.headers.get("www-authenticate")?.startsWith("Bearer"),
        `${method} ${path} ${what}`,
      );
      assert.match(body.error as string, /token|Authorization/);
    }
  }
  assert.equal(f.policies.applied.length, 1, "nothing was applied after the setup");
  assert.ok(f.policies.get("connect-port"), "nothing was deleted");
});

Deno.test("request bodies over the limit answer 413, with or without Content-Length", async () => {
  const f = fakes({ bodyLimitBytes: 4096 });
  const app = createApp(f.deps);
  const big = "#".repeat(4097);
  await assertJsonError(
    await app.request("/policies", { method: "POST", headers: AUTH, body: big }),
    413,
    /limit is 4096 bytes/,
  );
  // A streamed (chunked) body has no Content-Length: the limit is counted while reading.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 9; i++) c.enqueue(new TextEncoder().encode("#".repeat(512)));
      c.close();
    },
  });
  const req = new Request("http://vigil/policies", {
    method: "POST",
    headers: { ...AUTH, "transfer-encoding": "chunked" },
    body: stream,
  });
  await assertJsonError(await app.fetch(req), 413);
  assert.equal(f.policies.applied.length, 0);

  // Within the limit the body reaches the service.
  const ok = await app.request("/policies", {
    method: "POST",
    headers: AUTH,
    body: examplePolicy("connect_port.yaml"),
  });
  assert.equal(ok.status, 200);
});

Deno.test("the default body limit is 1 MiB", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  const justOver = "#".repeat(1024 * 1024 + 1);
  await assertJsonError(
    await app.request("/policies", { method: "POST", headers: AUTH, body: justOver }),
    413,
  );
  const under = "#".repeat(1024 * 1024 - 10);
  // Under the limit: reaches the parser, which rejects a YAML comment-only document.
  assert.equal(
    (await app.request("/policies", { method: "POST", headers: AUTH, body: under })).status,
    400,
  );
});

Deno.test("DELETE /policies/:name answers 200 with the remaining policies, then 404", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  await f.policies.apply(examplePolicy("connect_port.yaml"), "test");
  await f.policies.apply(examplePolicy("etc_reads.yaml"), "test");
  const res = await app.request("/policies/connect-port", { method: "DELETE", headers: AUTH });
  const body = await json(res);
  assert.equal(res.status, 200);
  assert.equal(body.deleted, "connect-port");
  assert.deepEqual((body.policies as { name: string }[]).map((p) => p.name), [
    "etc-sensitive-reads",
  ]);
  await assertJsonError(
    await app.request("/policies/connect-port", { method: "DELETE", headers: AUTH }),
    404,
    /no policy named 'connect-port'/,
  );
});

Deno.test("POST /policies/reload answers 200, or 400 listing the files that failed", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  await f.policies.apply(examplePolicy("connect_port.yaml"), "test");
  const ok = await app.request("/policies/reload", { method: "POST", headers: AUTH });
  assert.equal(ok.status, 200);
  const body = await json(ok);
  assert.deepEqual(body.errors, []);
  assert.equal((body.policies as unknown[]).length, 1);

  f.policies.nextReload = {
    policies: f.policies.list(),
    errors: [{ file: "/etc/vigil/policies/bad.yaml", message: "bad.yaml:3:1: unknown field" }],
  };
  const bad = await assertJsonError(
    await app.request("/policies/reload", { method: "POST", headers: AUTH }),
    400,
    /1 policy file failed/,
  );
  assert.deepEqual(bad.errors, f.policies.nextReload.errors);
  assert.equal((bad.policies as unknown[]).length, 1);
});

Deno.test("unknown routes answer 404 JSON, only after auth", async () => {
  const app = createApp(fakes().deps);
  await assertJsonError(await app.request("/nope"), 401);
  await assertJsonError(
    await app.request("/nope", { headers: AUTH }),
    404,
    /no route for GET \/nope/,
  );
  await assertJsonError(await app.request("/policies/a/b", { headers: AUTH }), 404);
  await assertJsonError(
    await app.request("/policies", { method: "PUT", headers: AUTH, body: "x" }),
    404,
  );
});

Deno.test("a failing service answers 500 JSON without the message or stack; the log has them", async () => {
  const f = fakes();
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l) });
  f.policies.reload = () => Promise.reject(new Error("secret internal detail"));
  const app = createApp({ ...f.deps, logger });
  const res = await app.request("/policies/reload", { method: "POST", headers: AUTH });
  const body = await assertJsonError(res, 500, /internal error/);
  assert.doesNotMatch(JSON.stringify(body), /secret internal detail/);
  const logged = lines.map((l) => JSON.parse(l));
  assert.equal(logged[0].msg, "api: request failed");
  assert.equal(logged[0].error, "secret internal detail");
  assert.match(logged[0].stack, /secret internal detail/);
});

Deno.test("GET /events streams NDJSON filtered by type, policy and container", async () => {
  const f = fakes();
  const app = createApp(f.deps);
  const res = await app.request(
    "/events?type=process_kprobe,process_exit&policy=p1&container=c1",
    { headers: AUTH },
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/x-ndjson");
  assert.equal(f.hub.stats().subscribers, 1);
  f.hub.publish('{"n":1}', { type: "process_exec", policy: "p1", container: "c1" }); // type
  f.hub.publish('{"n":2}', { type: "process_kprobe", policy: "p2", container: "c1" }); // policy
  f.hub.publish('{"n":3}', { type: "process_kprobe", policy: "p1", container: "c2" }); // container
  f.hub.publish('{"n":4}', { type: "process_kprobe", policy: "p1" }); // no container
  f.hub.publish('{"n":5}', { type: "process_kprobe", policy: "p1", container: "c1" });
  f.hub.publish('{"n":6}', { type: "process_exit", policy: "p1", container: "c1" });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (text.split("\n").length < 3) text += (await reader.read()).value;
  assert.equal(text, '{"n":5}\n{"n":6}\n');
  await reader.cancel();
  assert.equal(f.hub.stats().subscribers, 0, "cancelling the body ends the subscription");
});

Deno.test("GET /events ends every stream when the shutdown signal fires", async () => {
  const stop = new AbortController();
  const f = fakes({ shutdown: stop.signal });
  const app = createApp(f.deps);
  const res = await app.request("/events", { headers: AUTH });
  f.hub.publish("a", { type: "x" });
  stop.abort();
  assert.equal(await res.text(), "a\n");
  assert.equal(f.hub.stats().subscribers, 0);
});

Deno.test("reads need the token: events, policy list and bodies, status; probes and metrics stay open", async () => {
  const f = fakes();
  assert.equal((await f.policies.apply(examplePolicy("etc_reads.yaml"), "test")).ok, true);
  const app = createApp(f.deps);
  for (const path of ["/events", "/policies", "/policies/etc-sensitive-reads", "/status"]) {
    await assertJsonError(await app.request(path), 401, /missing bearer token/);
    await assertJsonError(
      await app.request(path, { headers: { authorization: "Bearer wrong" } }),
      401,
      /invalid bearer token/,
    );
    assert.equal((await app.request(path, { method: "HEAD" })).status, 401);
  }
  assert.equal(f.hub.stats().subscribers, 0, "a refused /events never subscribes");
  for (const path of ["/healthz", "/readyz", "/metrics"]) {
    assert.equal((await app.request(path)).status, 200, path);
  }
});

Deno.test("publicRoutes: [] closes the probes and metrics too; a subset opens only those", async () => {
  const none = createApp({ ...fakes().deps, publicRoutes: [] });
  for (const path of ["/healthz", "/readyz", "/metrics"]) {
    await assertJsonError(await none.request(path), 401);
    assert.equal((await none.request(path, { headers: AUTH })).status, 200, path);
  }
  const some = createApp({ ...fakes().deps, publicRoutes: ["/healthz"] });
  assert.equal((await some.request("/healthz")).status, 200);
  await assertJsonError(await some.request("/metrics"), 401);
});

Deno.test("GET /events beyond the hub's limit of streams answers 503 with Retry-After", async () => {
  const f = fakes({ hubOptions: { maxSubscribers: 2 } });
  const app = createApp(f.deps);
  const open = [
    await app.request("/events", { headers: AUTH }),
    await app.request("/events", { headers: AUTH }),
  ];
  const refused = await app.request("/events", { headers: AUTH });
  const body = await assertJsonError(refused, 503, /too many event streams: the limit is 2/);
  assert.equal(body.limit, 2);
  assert.equal(refused.headers.get("retry-after"), "5");
  assert.equal(refused.headers.get("connection"), "close", "a refused client frees its slot");
  assert.equal(f.hub.stats().refused, 1);
  const metrics = await (await app.request("/metrics")).text();
  assert.match(metrics, /^vigil_event_stream_refused_clients_total 1$/m);
  await open[0]!.body!.cancel();
  const again = await app.request("/events", { headers: AUTH });
  assert.equal(again.status, 200, "a slot is free again once a client leaves");
  for (const res of [open[1]!, again]) await res.body!.cancel();
});

Deno.test("vigil_api_requests_total: invented methods share one bounded 'other' label", async () => {
  const app = createApp(fakes().deps);
  for (let i = 0; i < 50; i++) {
    await app.request("/healthz", { method: `M${i}X`, headers: AUTH });
  }
  const text = await (await app.request("/metrics")).text();
  const series = text.split("\n").filter((l) => l.startsWith("vigil_api_requests_total{"));
  assert.ok(series.every((l) => /method="(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|other)"/.test(l)));
  assert.ok(series.some((l) => l.includes('method="other"')), "the invented methods are counted");
  assert.ok(series.length < 10, `${series.length} series for 50 invented methods`);
});
