/**
 * A `/events` client that stops reading must not stall the REAL agent: while it is connected and
 * not reading, the export file keeps growing at the rate it grew before (the generator's, 2000
 * events a second); once the client is more than its queue (10,000 lines) behind it is dropped
 * and counted in /metrics, its connection is cut, and no event is lost from the export.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { privileged } from "../_helpers/privileges.ts";
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
  privileged("a stalled /events client does not slow the export; it is dropped and counted"),
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
      new TextEncoder().encode("GET /events?policy=e2e-stall HTTP/1.1\r\nHost: vigil\r\n\r\n"),
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
    assert.equal(await api.metric("vigil_event_stream_clients"), 1, "still connected");
    assert.equal(await api.metric("vigil_event_stream_dropped_clients_total"), 0);
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
