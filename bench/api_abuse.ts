/**
 * API abuse against the real agent (`main.ts run`, a child process), the attacks of issue 14
 * items 4 and 5, with the agent's RSS, open fds and `/healthz` latency printed as they go:
 *
 * 1. Stalled streams: a generator makes 2000 policy events a second while `--streams` clients
 *    (default 500) ask for `GET /events` and never read a byte.
 * 2. Slow headers: `--slow` connections (default 1000) send a request line and one header, then a
 *    header byte every 5 s, never finishing the request.
 *
 * Run: `deno run --allow-all bench/api_abuse.ts [--streams N] [--slow N] [--seconds S]`. Needs root
 * and a built tree (`deno task build`). Asserts nothing.
 *
 * @module
 */
import { startAgentProcess } from "../tests/_helpers/agent_process.ts";
import { Api, seqPolicy, seqPrefix, sleep, startGenerator } from "../tests/api_e2e/_e2e.ts";
import { parseFlags, print, readRss } from "./_lib.ts";

const encoder = new TextEncoder();

function fds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

async function healthMs(api: Api): Promise<string> {
  const t0 = performance.now();
  try {
    const res = await fetch(api.base + "/healthz", {
      ...clientOf(api),
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel();
    return `${res.status} in ${(performance.now() - t0).toFixed(0)} ms`;
  } catch {
    return `no answer in ${(performance.now() - t0).toFixed(0)} ms`;
  }
}

// The bench's own client for the health probe (separate from the attack connections).
let probeClient: Deno.HttpClient | undefined;
function clientOf(_api: Api): { client?: Deno.HttpClient } {
  return probeClient === undefined ? {} : { client: probeClient };
}

function sample(pid: number, label: string, health: string): void {
  const { rssKb } = readRss(pid);
  print(
    `  ${label.padEnd(16)} rss ${(rssKb / 1024).toFixed(0).padStart(5)} MB  fds ${
      String(fds(pid)).padStart(5)
    }  /healthz ${health}`,
  );
}

async function connectAll(path: string, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      conns.push(await Deno.connect({ transport: "unix", path }));
    } catch {
      break;
    }
  }
  return conns;
}

async function stalledStreams(count: number, seconds: number): Promise<void> {
  const policyDir = await Deno.makeTempDir({ prefix: "vigil-abuse-" });
  const prefix = seqPrefix();
  await Deno.writeTextFile(`${policyDir}/s.yaml`, seqPolicy("abuse-stall", prefix, "stall"));
  await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
  using api = await Api.of(agent);
  const path = agent.api.slice("unix:".length);
  probeClient = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  print(`stalled /events clients: ${count}, generator 2000 events/s, ${seconds} s`);
  const gen = startGenerator(prefix, 2000);
  await sleep(2000);
  sample(agent.pid, "before", await healthMs(api));
  const conns = await connectAll(path, count);
  const request = encoder.encode(
    `GET /events HTTP/1.1\r\nHost: vigil\r\nAuthorization: Bearer ${api.token}\r\n\r\n`,
  );
  await Promise.all(conns.map(async (c) => {
    try {
      await c.write(request);
    } catch { /* refused at accept */ }
  }));
  // The first bytes of each answer only (then never read again): a stream's headers, a 503, or
  // nothing (refused at accept by the connection cap).
  const outcomes = new Map<string, number>();
  await Promise.all(conns.map(async (c) => {
    const buf = new Uint8Array(64);
    let kind = "no answer";
    try {
      const n = await Promise.race([c.read(buf), sleep(2000).then(() => -1)]);
      if (n === null) kind = "closed at accept";
      else if (n > 0) kind = new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0]!;
    } catch {
      kind = "closed at accept";
    }
    outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
  }));
  print(`  ${conns.length} clients: ${[...outcomes].map(([k, n]) => `${n} × ${k}`).join(", ")}`);
  let peak = 0;
  for (let t = 0; t < seconds; t += 5) {
    await sleep(5000);
    peak = Math.max(peak, readRss(agent.pid).rssKb);
    sample(agent.pid, `stalled ${t + 5} s`, await healthMs(api));
  }
  print(`  peak rss ${(peak / 1024).toFixed(0)} MB; metrics: clients ${await api.metric(
    "vigil_event_stream_clients",
  )}, dropped ${await api.metric("vigil_event_stream_dropped_clients_total")}`);
  for (const c of conns) c.close();
  await gen.stop();
  await sleep(2000);
  sample(agent.pid, "after close", await healthMs(api));
  probeClient.close();
  probeClient = undefined;
  await Deno.remove(policyDir, { recursive: true });
}

async function slowHeaders(count: number, seconds: number): Promise<void> {
  await using agent = await startAgentProcess();
  using api = await Api.of(agent);
  const path = agent.api.slice("unix:".length);
  probeClient = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  print(`slow-header connections: ${count}, one header byte every 5 s, ${seconds} s`);
  sample(agent.pid, "before", await healthMs(api));
  const conns = await connectAll(path, count);
  const head = encoder.encode("GET /healthz HTTP/1.1\r\nHost: vigil\r\n");
  await Promise.all(conns.map((c) => c.write(head).catch(() => 0)));
  print(`  connected ${conns.length}`);
  let open = conns.length;
  const closed = new Set<Deno.Conn>();
  for (const c of conns) {
    c.read(new Uint8Array(256)).then(() => closed.add(c), () => closed.add(c));
  }
  for (let t = 0; t < seconds; t += 5) {
    await Promise.all(
      conns.filter((c) => !closed.has(c)).map((c) =>
        c.write(encoder.encode("X")).catch(() => closed.add(c))
      ),
    );
    await sleep(5000);
    open = conns.length - closed.size;
    sample(agent.pid, `slow ${t + 5} s`, `${await healthMs(api)}; attack conns open ${open}`);
  }
  for (const c of conns) {
    try {
      c.close();
    } catch { /* closed */ }
  }
  probeClient.close();
  probeClient = undefined;
}

if (import.meta.main) {
  const given = parseFlags(
    Deno.args,
    { streams: "number", slow: "number", seconds: "number" },
    "usage: bench/api_abuse.ts [--streams N] [--slow N] [--seconds S]",
  );
  const streams = (given.streams as number | undefined) ?? 500;
  const slow = (given.slow as number | undefined) ?? 1000;
  const seconds = (given.seconds as number | undefined) ?? 30;
  if (streams > 0) await stalledStreams(streams, seconds);
  if (slow > 0) await slowHeaders(slow, seconds);
}
