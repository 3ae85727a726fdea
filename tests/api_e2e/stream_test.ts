/**
 * A `/events` client that stops reading must not stall the REAL agent: while it is connected and
 * not reading, the export file keeps growing at the rate it grew before (the generator's, 2000
 * events a second); once the client is more than its queue (10,000 lines or 8 MiB) behind it is
 * dropped and counted in /metrics, its connection is cut, and no event is lost from the export.
 * Many such clients: beyond the stream cap they get a 503, and the agent's memory stays bounded.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import {
  Api,
  missing,
  note,
  SeqCollector,
  seqPolicy,
  seqPrefix,
  sleep,
  startGenerator,
} from "./_e2e.ts";
import { requires } from "../_helpers/requires.ts";

const RATE = 2000;

/** Export events per second over `ms`, counted from the export file. */
async function exportRate(events: SeqCollector, ms: number): Promise<number> {
  const before = events.poll().length;
  const t0 = performance.now();
  await sleep(ms);
  const after = events.poll().length;
  return (after - before) / ((performance.now() - t0) / 1000);
}

Deno.test(
  requires("a stalled /events client does not slow the export; it is dropped and counted", "root"),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-stream-" });
    const prefix = seqPrefix();
    await Deno.writeTextFile(`${policyDir}/s.yaml`, seqPolicy("e2e-stall", prefix, "stall"));
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);
    const events = new SeqCollector(agent.exportPath, prefix);

    const gen = startGenerator(prefix, RATE);
    await events.waitFor(() => true, 200);
    const baseline = await exportRate(events, 2000);

    // A client that asks for the stream and never reads a byte.
    const conn = await Deno.connect({ transport: "unix", path: agent.api.slice("unix:".length) });
    await conn.write(
      new TextEncoder().encode(
        "GET /events?policy=e2e-stall HTTP/1.1\r\nHost: vigil\r\n" +
          `Authorization: Bearer ${api.token}\r\n\r\n`,
      ),
    );
    const connectedAt = performance.now();
    const until = Date.now() + 5000;
    while ((await api.metric("vigil_event_stream_clients")) !== 1) {
      assert.ok(Date.now() < until, "the stalled client is subscribed");
      await sleep(20);
    }

    // While it is connected and stalled (its socket buffers full, its queue filling).
    const stalled = await exportRate(events, 2000);
    const t0 = performance.now();
    const health = await api.get("/healthz");
    const healthMs = performance.now() - t0;
    assert.equal(health.status, 200);
    note(
      `export: ${baseline.toFixed(0)} events/s before, ${stalled.toFixed(0)} events/s with the ` +
        `stalled client connected (generator: ${RATE}/s); /healthz answered in ${
          healthMs.toFixed(0)
        } ms`,
    );
    assert.ok(baseline > RATE * 0.8, `baseline ${baseline}/s`);
    assert.ok(stalled > baseline * 0.9, `stalled ${stalled}/s vs baseline ${baseline}/s`);

    // It falls 10,000 lines behind and is dropped, counted.
    const dropUntil = Date.now() + 20_000;
    while ((await api.metric("vigil_event_stream_dropped_clients_total")) !== 1) {
      assert.ok(Date.now() < dropUntil, "the stalled client is dropped");
      await sleep(50);
    }
    const droppedAfter = (performance.now() - connectedAt) / 1000;
    assert.equal(await api.metric("vigil_event_stream_clients"), 0);
    const after = await exportRate(events, 1000);
    assert.ok(after > baseline * 0.9, `after the drop ${after}/s vs baseline ${baseline}/s`);

    // Nothing was lost from the export.
    const { last } = await gen.stop();
    await events.waitFor((e) => e.seq === last, 1);
    assert.deepEqual(missing(events.poll().map((e) => e.seq), last), []);

    // The client, reading at last, gets what was buffered and then the end of the connection:
    // far less than everything the policy posted since it connected.
    let read = 0;
    const buf = new Uint8Array(1 << 16);
    const readUntil = Date.now() + 10_000;
    for (;;) {
      assert.ok(Date.now() < readUntil, "the dropped client's connection is cut");
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch {
        break; // reset by the agent
      }
      if (n === null) break;
      read += n;
    }
    conn.close();
    const lineBytes = (await Deno.stat(agent.exportPath)).size / events.tail.lines;
    note(
      `dropped ${droppedAfter.toFixed(1)} s after connecting; it then read ${
        (read / 1024).toFixed(0)
      } KiB (~${(read / lineBytes).toFixed(0)} lines) of the ${last} events posted`,
    );
    assert.ok(read / lineBytes < 0.8 * last, "the stream was cut, not delivered in full");
    await Deno.remove(policyDir, { recursive: true });
  },
);

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
}

Deno.test(
  requires(
    "200 stalled /events clients: 503 beyond the stream cap, memory bounded, /healthz answers",
    "root",
  ),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-stalls-" });
    const prefix = seqPrefix();
    await Deno.writeTextFile(`${policyDir}/s.yaml`, seqPolicy("e2e-stalls", prefix, "stalls"));
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);
    const path = agent.api.slice("unix:".length);
    const gen = startGenerator(prefix, RATE);
    await sleep(1000);
    const rssBefore = rssMb(agent.pid);

    const request = new TextEncoder().encode(
      `GET /events HTTP/1.1\r\nHost: vigil\r\nAuthorization: Bearer ${api.token}\r\n\r\n`,
    );
    const conns: Deno.Conn[] = [];
    const firstLines = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const c = await Deno.connect({ transport: "unix", path });
      conns.push(c);
      await c.write(request).catch(() => 0);
    }
    // The first bytes of each answer only; then none of them reads again.
    await Promise.all(conns.map(async (c) => {
      const buf = new Uint8Array(32);
      const n = await Promise.race([c.read(buf).catch(() => null), sleep(3000).then(() => 0)]);
      const head = n ? new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0]! : "none";
      firstLines.set(head, (firstLines.get(head) ?? 0) + 1);
    }));
    let peakRss = 0;
    let peakClients = 0;
    let slowestHealthMs = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(1000);
      peakRss = Math.max(peakRss, rssMb(agent.pid));
      peakClients = Math.max(peakClients, (await api.metric("vigil_event_stream_clients")) ?? 0);
      const queued = (await api.metric("vigil_event_stream_queued_bytes")) ?? 0;
      assert.ok(queued <= 64 * 1024 * 1024, `${queued} bytes queued`);
      const t0 = performance.now();
      assert.equal((await api.getWithoutToken("/healthz")).status, 200);
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - t0);
    }
    const refused = (await api.metric("vigil_event_stream_refused_clients_total")) ?? 0;
    note(
      `answers: ${JSON.stringify(Object.fromEntries(firstLines))}; rss ${rssBefore.toFixed(0)} → ` +
        `peak ${peakRss.toFixed(0)} MB; at most ${peakClients} streams; ${refused} refused; ` +
        `slowest /healthz ${slowestHealthMs.toFixed(0)} ms`,
    );
    const dropped = (await api.metric("vigil_event_stream_dropped_clients_total")) ?? 0;
    for (const c of conns) c.close();
    const { last } = await gen.stop();
    assert.ok(peakClients <= 64, `${peakClients} concurrent streams (cap 64)`);
    const streams = firstLines.get("HTTP/1.1 200 OK") ?? 0;
    assert.ok(streams <= 64 + dropped, `${streams} streams, ${dropped} dropped (cap 64)`);
    assert.ok((firstLines.get("HTTP/1.1 503 Service Unavailable") ?? 0) > 0, "503s beyond the cap");
    assert.ok(refused > 0);
    // Before the fix 500 such clients took the agent from 139 MB to 1.3 GB.
    assert.ok(peakRss - rssBefore < 200, `rss grew ${(peakRss - rssBefore).toFixed(0)} MB`);
    assert.ok(slowestHealthMs < 1000, `/healthz took ${slowestHealthMs.toFixed(0)} ms`);
    assert.ok(last > 0);
    await Deno.remove(policyDir, { recursive: true });
  },
);
