/**
 * The real server over real sockets: a unix socket (mode 0600, stale file replaced, live one
 * refused) and 127.0.0.1 on port 0; auth, limits and event streaming over HTTP; a client that
 * stops reading is dropped without slowing publish or blocking shutdown.
 */
import assert from "node:assert/strict";
import { startApiServer } from "../../src/api/server.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { examplePolicy, fakes } from "./_fakes.ts";
import { requires } from "../_helpers/requires.ts";

function serverDeps() {
  const f = fakes();
  const { token: _token, ...deps } = f.deps;
  return { f, deps };
}

/** The `Authorization` header with the token a server created in `tokenFile`. */
async function bearer(tokenFile: string): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${(await Deno.readTextFile(tokenFile)).trim()}` };
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "vigil-api-test-" });
}

Deno.test("unix socket: mode 0600, real HTTP, token auth, socket removed on close", async () => {
  const dir = await tempDir();
  const path = `${dir}/run/api.sock`;
  const tokenFile = `${dir}/etc/api-token`;
  const { f, deps } = serverDeps();
  const api = await startApiServer(
    { listen: `unix:${path}`, tokenFile, logger: silentLogger },
    deps,
  );
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  try {
    assert.equal(api.address, `unix:${path}`);
    assert.equal(api.tokenCreated, true);
    const info = await Deno.lstat(path);
    assert.ok(info.isSocket);
    assert.equal(info.mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);

    const health = await fetch("http://vigil/healthz", { client });
    assert.deepEqual(await health.json(), { status: "ok" });

    const body = examplePolicy("connect_port.yaml");
    const refused = await fetch("http://vigil/policies", { client, method: "POST", body });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();

    const token = (await Deno.readTextFile(tokenFile)).trim();
    const ok = await fetch("http://vigil/policies", {
      client,
      method: "POST",
      body,
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).policy.name, "connect-port");
    assert.ok(f.policies.get("connect-port"));
  } finally {
    client.close();
    await api.close();
  }
  await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  await api.close(); // idempotent
  await Deno.remove(dir, { recursive: true });
});

Deno.test(
  requires(
    "unix socket: a stale socket file is replaced, a live one and a regular file are refused",
    "python3",
  ),
  async () => {
    const dir = await tempDir();
    const path = `${dir}/api.sock`;
    const tokenFile = `${dir}/token`;
    // A socket nobody listens on, as a killed agent leaves it (bound by another process).
    const py = new Deno.Command("python3", {
      args: ["-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path],
    });
    assert.equal((await py.output()).code, 0);
    assert.ok((await Deno.lstat(path)).isSocket);

    const { deps } = serverDeps();
    const api = await startApiServer(
      { listen: `unix:${path}`, tokenFile, logger: silentLogger },
      deps,
    );
    try {
      await assert.rejects(
        startApiServer({ listen: `unix:${path}`, tokenFile, logger: silentLogger }, deps),
        /another process is already listening on unix:/,
      );
    } finally {
      await api.close();
    }
    await Deno.writeTextFile(path, "not a socket");
    await assert.rejects(
      startApiServer({ listen: `unix:${path}`, tokenFile, logger: silentLogger }, deps),
      /exists and is not a socket; refusing to replace it/,
    );
    assert.equal(await Deno.readTextFile(path), "not a socket");
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test("TCP on 127.0.0.1 port 0: real port reported, auth, 413, address in use", async () => {
  const dir = await tempDir();
  const tokenFile = `${dir}/token`;
  const { deps } = serverDeps();
  const api = await startApiServer(
    { listen: "127.0.0.1:0", tokenFile, bodyLimitBytes: 2048, logger: silentLogger },
    deps,
  );
  try {
    const m = /^127\.0\.0\.1:(\d+)$/.exec(api.address);
    assert.ok(m && Number(m[1]) > 0, api.address);
    const base = `http://${api.address}`;
    const token = (await Deno.readTextFile(tokenFile)).trim();
    const auth = { authorization: `Bearer ${token}` };

    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    await ready.body?.cancel();

    const big = await fetch(`${base}/policies`, {
      method: "POST",
      headers: auth,
      body: "#".repeat(4096),
    });
    assert.equal(big.status, 413);
    assert.match((await big.json()).error, /too large/);

    // Chunked upload: no Content-Length, counted while read.
    const chunks = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(512).fill(35));
        c.close();
      },
    });
    const chunked = await fetch(`${base}/policies`, {
      method: "POST",
      headers: auth,
      body: chunks,
    });
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();

    const metrics = await fetch(`${base}/metrics`);
    assert.match(
      await metrics.text(),
      /vigil_api_requests_total\{method="POST",route="\/policies",code="413"\} 2/,
    );

    await assert.rejects(
      startApiServer({ listen: api.address, tokenFile, logger: silentLogger }, deps),
      /api: cannot listen on 127\.0\.0\.1:\d+: address already in use/,
    );
  } finally {
    await api.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("GET /events over HTTP: filtered NDJSON; close() ends open streams", async () => {
  const dir = await tempDir();
  const { f, deps } = serverDeps();
  const api = await startApiServer(
    { listen: "127.0.0.1:0", tokenFile: `${dir}/token`, logger: silentLogger },
    deps,
  );
  const res = await fetch(`http://${api.address}/events?type=process_exit&policy=p1`, {
    headers: await bearer(`${dir}/token`),
  });
  assert.equal(res.headers.get("content-type"), "application/x-ndjson");
  while (f.hub.stats().subscribers === 0) await new Promise((r) => setTimeout(r, 5));
  f.hub.publish('{"process_exec":{}}', { type: "process_exec", policy: "p1" });
  f.hub.publish('{"process_exit":{"n":1}}', { type: "process_exit", policy: "p1" });
  f.hub.publish('{"process_exit":{"n":2}}', { type: "process_exit", policy: "p2" });
  f.hub.publish('{"process_exit":{"n":3}}', { type: "process_exit", policy: "p1" });
  const closing = (async () => {
    await new Promise((r) => setTimeout(r, 100));
    await api.close();
  })();
  const text = await res.text(); // ends when the server closes the stream
  await closing;
  assert.equal(text, '{"process_exit":{"n":1}}\n{"process_exit":{"n":3}}\n');
  assert.equal(f.hub.stats().subscribers, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a /events client that stops reading is dropped and counted; a reading one is not", async () => {
  const dir = await tempDir();
  const { f, deps } = serverDeps();
  const api = await startApiServer(
    {
      listen: "127.0.0.1:0",
      tokenFile: `${dir}/token`,
      eventQueueLines: 2000,
      closeGraceMs: 300,
      logger: silentLogger,
    },
    deps,
  );
  let stalled: Deno.TcpConn | undefined;
  try {
    // A raw TCP client that sends the request and then never reads.
    const [host, port] = api.address.split(":") as [string, string];
    stalled = await Deno.connect({ hostname: host, port: Number(port) });
    const auth = await bearer(`${dir}/token`);
    await stalled.write(
      new TextEncoder().encode(
        `GET /events HTTP/1.1\r\nHost: ${api.address}\r\n` +
          `Authorization: ${auth.authorization}\r\n\r\n`,
      ),
    );
    // A client that keeps reading.
    const live = await fetch(`http://${api.address}/events`, { headers: auth });
    let liveLines = 0;
    const reading = (async () => {
      for await (const chunk of live.body!.pipeThrough(new TextDecoderStream())) {
        liveLines += chunk.split("\n").length - 1;
      }
    })();
    while (f.hub.stats().subscribers < 2) await new Promise((r) => setTimeout(r, 5));

    const line = JSON.stringify({ process_exec: { process: { arguments: "y".repeat(200) } } });
    let publishMs = 0;
    let published = 0;
    // Fill the stalled client's socket buffers, then its queue, at a rate the live one keeps up with.
    while (f.hub.stats().dropped === 0 && published < 2_000_000) {
      const s = performance.now();
      for (let i = 0; i < 200; i++) f.hub.publish(line, { type: "process_exec" });
      publishMs += performance.now() - s;
      published += 200;
      await new Promise((r) => setTimeout(r, 1));
    }
    assert.equal(f.hub.stats().dropped, 1, `dropped after ${published} lines`);
    assert.equal(f.hub.stats().subscribers, 1, "the reading client is still subscribed");
    const perPublishNs = (publishMs * 1e6) / published;
    assert.ok(perPublishNs < 2_000, `publish took ${perPublishNs.toFixed(0)} ns on average`);

    const metrics = await (await fetch(`http://${api.address}/metrics`)).text();
    assert.match(metrics, /^vigil_event_stream_dropped_clients_total 1$/m);
    assert.match(metrics, /^vigil_event_stream_clients 1$/m);

    // close() returns after the grace period although the stalled client still holds its
    // connection (its last bytes cannot be written), and the live client got every line.
    const t = performance.now();
    await api.close();
    assert.ok(performance.now() - t < 2000, `close() took ${performance.now() - t} ms`);
    await reading;
    assert.equal(liveLines, published);
  } finally {
    stalled?.close();
    await api.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a /events client that disconnects is unsubscribed", async () => {
  const dir = await tempDir();
  const { f, deps } = serverDeps();
  const api = await startApiServer(
    { listen: "127.0.0.1:0", tokenFile: `${dir}/token`, logger: silentLogger },
    deps,
  );
  try {
    const stop = new AbortController();
    const res = await fetch(`http://${api.address}/events`, {
      signal: stop.signal,
      headers: await bearer(`${dir}/token`),
    });
    while (f.hub.stats().subscribers === 0) await new Promise((r) => setTimeout(r, 5));
    f.hub.publish("x", { type: "t" });
    const reader = res.body!.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value), "x\n");
    stop.abort();
    await reader.read().catch(() => {});
    // The server notices on its next write.
    for (let i = 0; i < 200 && f.hub.stats().subscribers > 0; i++) {
      f.hub.publish("y", { type: "t" });
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(f.hub.stats().subscribers, 0);
    assert.equal(f.hub.stats().dropped, 0, "a disconnect is not a drop");
  } finally {
    await api.close();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("startApiServer() refuses a token file that group or others can read", async () => {
  const dir = await tempDir();
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, "abc\n", { mode: 0o644 });
  await Deno.chmod(tokenFile, 0o644);
  const { deps } = serverDeps();
  await assert.rejects(
    startApiServer({ listen: "127.0.0.1:0", tokenFile, logger: silentLogger }, deps),
    /API token file .* is accessible by group or others \(mode 0644\); run 'chmod 600/,
  );
  await Deno.remove(dir, { recursive: true });
});

/** Opens a raw connection to `address` (TCP `HOST:PORT` or `unix:PATH`). */
function rawConnect(address: string): Promise<Deno.Conn> {
  if (address.startsWith("unix:")) {
    return Deno.connect({ transport: "unix", path: address.slice("unix:".length) });
  }
  const [hostname, port] = address.split(":") as [string, string];
  return Deno.connect({ hostname, port: Number(port) });
}

/** Reads until the peer closes; resolves to what it sent and when (ms since `t0`). */
async function untilClosed(conn: Deno.Conn, t0: number): Promise<{ text: string; ms: number }> {
  const buf = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return { text, ms: performance.now() - t0 };
}

for (const transport of ["tcp", "unix"] as const) {
  Deno.test(`${transport}: slow headers get a 408 and are closed; idle connections are closed`, async () => {
    const dir = await tempDir();
    const { deps } = serverDeps();
    const api = await startApiServer(
      {
        listen: transport === "tcp" ? "127.0.0.1:0" : `unix:${dir}/api.sock`,
        tokenFile: `${dir}/token`,
        limits: { headersTimeoutMs: 600, idleTimeoutMs: 600 },
        logger: silentLogger,
      },
      deps,
    );
    try {
      const t0 = performance.now();
      // A request line and one header, then one more header byte every 100 ms: never complete.
      const slow = await rawConnect(api.address);
      await slow.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
      const dribble = setInterval(
        () => slow.write(new TextEncoder().encode("X")).catch(() => {}),
        100,
      );
      // Connected and silent.
      const silent = await rawConnect(api.address);
      const [s, q] = await Promise.all([untilClosed(slow, t0), untilClosed(silent, t0)]);
      clearInterval(dribble);
      assert.match(s.text, /^HTTP\/1\.1 408 /, "the slow client is told");
      for (const r of [s, q]) {
        assert.ok(r.ms >= 500 && r.ms < 5000, `closed after ${r.ms.toFixed(0)} ms`);
      }
      slow.close();
      silent.close();
      assert.equal(api.connections().open, 0);
      // A healthy client is not affected.
      const client = transport === "unix"
        ? Deno.createHttpClient({ proxy: { transport: "unix", path: `${dir}/api.sock` } })
        : undefined;
      const base = transport === "unix" ? "http://vigil" : `http://${api.address}`;
      const res = await fetch(`${base}/healthz`, client ? { client } : {});
      assert.equal(res.status, 200);
      await res.body?.cancel();
      client?.close();
    } finally {
      await api.close();
    }
    await Deno.remove(dir, { recursive: true });
  });

  Deno.test(`${transport}: at maxConnections the oldest idle connection makes room; busy ones stay`, async () => {
    const dir = await tempDir();
    const { f, deps } = serverDeps();
    const api = await startApiServer(
      {
        listen: transport === "tcp" ? "127.0.0.1:0" : `unix:${dir}/api.sock`,
        tokenFile: `${dir}/token`,
        limits: { maxConnections: 5 },
        logger: silentLogger,
      },
      deps,
    );
    const token = (await bearer(`${dir}/token`)).authorization;
    const held: Deno.Conn[] = [];
    try {
      // Two streams (busy), then three connections that send nothing (idle).
      for (let i = 0; i < 2; i++) {
        const c = await rawConnect(api.address);
        await c.write(
          new TextEncoder().encode(
            `GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\n\r\n`,
          ),
        );
        held.push(c);
      }
      while (f.hub.stats().subscribers < 2) await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 3; i++) held.push(await rawConnect(api.address));
      while (api.connections().open < 5) await new Promise((r) => setTimeout(r, 10));

      // A sixth, quick client is served: the oldest idle connection is cut for it.
      const t0 = performance.now();
      const quick = await rawConnect(api.address);
      await quick.write(
        new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
      );
      const answer = await untilClosed(quick, t0);
      quick.close();
      assert.match(answer.text, /^HTTP\/1\.1 200 /, "served under a full cap");
      assert.ok(answer.ms < 2000, `answered in ${answer.ms.toFixed(0)} ms`);
      const cut = await untilClosed(held[2]!, t0);
      assert.equal(cut.text, "", "the oldest idle connection was cut without an answer");
      assert.equal(f.hub.stats().subscribers, 2, "the streams were not touched");
      assert.equal(api.connections().evicted, 1);
      assert.ok(api.connections().open <= 5);

      // Every slot busy: the new connection is the one refused.
      for (const c of held.splice(2)) c.close();
      for (let i = 0; i < 3; i++) {
        const c = await rawConnect(api.address);
        await c.write(
          new TextEncoder().encode(
            `GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: ${token}\r\n\r\n`,
          ),
        );
        held.push(c);
      }
      while (f.hub.stats().subscribers < 5) await new Promise((r) => setTimeout(r, 10));
      const extra = await rawConnect(api.address);
      await extra.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        .catch(() => 0);
      assert.equal((await untilClosed(extra, 0)).text, "", "refused without an answer");
      extra.close();
      assert.equal(api.connections().refused, 1);
      assert.equal(f.hub.stats().subscribers, 5);
    } finally {
      for (const c of held) c.close();
      await api.close();
    }
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("a /events stream outlives the request and header timeouts", async () => {
  const dir = await tempDir();
  const { f, deps } = serverDeps();
  const api = await startApiServer(
    {
      listen: "127.0.0.1:0",
      tokenFile: `${dir}/token`,
      limits: { headersTimeoutMs: 300, requestTimeoutMs: 300, idleTimeoutMs: 300 },
      logger: silentLogger,
    },
    deps,
  );
  try {
    const res = await fetch(`http://${api.address}/events`, {
      headers: await bearer(`${dir}/token`),
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const t0 = performance.now();
    let got = "";
    for (let i = 0; performance.now() - t0 < 1200; i++) {
      f.hub.publish(`{"n":${i}}`, { type: "t" });
      got += (await reader.read()).value ?? "";
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(got.split("\n").length > 8, "still streaming after 4 × the request timeout");
    // A quiet stream (nothing to send for longer than the idle timeout) is not cut either.
    await new Promise((r) => setTimeout(r, 900));
    f.hub.publish('{"quiet":1}', { type: "t" });
    assert.equal((await reader.read()).value, '{"quiet":1}\n');
    await reader.cancel();
  } finally {
    await api.close();
  }
  await Deno.remove(dir, { recursive: true });
});
