/**
 * Ring throughput with a synthetic high-rate BPF source (bpf/bench.bpf.c `bench_produce`): a C
 * load generator in a child process calls getppid(2) for a fixed time; on each call the BPF
 * program emits `records_per_call` struct vigil_bench records (with a sequence number) into its
 * own ring buffer and counts reserve failures in the per-CPU `counters` map.
 *
 * The consumer is vigil's real path in this process: {@link RingReader} (mmapped ring walked in
 * JS, the agent's wait policy) → {@link decodeRecord} → one Tetragon-shaped JSON line per event,
 * built by concatenation as `src/events/process_json.ts` does, with the time formatted from the
 * record's boot-time ktime by {@link BootTimeFormatter} → {@link createJsonLinesExporter} to a
 * file on disk (rotating at 100 MiB as the agent does), flushed after each drained slice. The
 * "decode" mode stops after decodeRecord (the ring path's capacity).
 *
 * For each run it prints events/s consumed end to end (from the start signal until the ring is
 * empty), kernel drops and drop %, sequence gaps seen by the consumer, consumer CPU % and CPU
 * ns/event (getrusage of this whole process, all threads), and checks consumed + drops ==
 * attempted and the line count of the export files. A "capacity" section first drains a prefilled
 * ring with no producer running (pure consumer cost). Numbers only, no assertions.
 *
 * By default the consumer (this process, all threads) is pinned to CPU 0 and the generator to
 * CPU 1, as in the earlier measurements; `--no-pin` leaves both to the scheduler.
 *
 * Run: `deno run --allow-all bench/ring_throughput.ts [--seconds S] [--ring-mb M] [--runs SPEC]`
 *
 * @module
 */
import { cpuUsage } from "node:process";
import { RODATA, STRUCTS } from "../src/bpf/abi.gen.ts";
import type { BpfObject } from "../src/bpf/object.ts";
import { openBpfRuntime } from "../src/bpf/runtime.ts";
import { decodeRecord } from "../src/events/decode.ts";
import { createJsonLinesExporter, type JsonLinesExporter } from "../src/export/json_lines.ts";
import { silentLogger } from "../src/log/logger.ts";
import { BootTimeFormatter, measureBootEpochNs } from "../src/process/format.ts";
import { type RecordHandler, RingReader } from "../src/ringbuf/reader.ts";
import { pageReporting, pageReportingLine, pausePageReporting } from "./_page_reporting.ts";
import {
  compileC,
  fmt,
  hostActivity,
  keyValues,
  loadBenchObject,
  machineLine,
  mega,
  onlineCpus,
  parseFlags,
  print,
  run,
  sleep,
} from "./_lib.ts";

const USAGE = `usage: deno run --allow-all bench/ring_throughput.ts [options]
  --seconds S        duration of each live run (default 5)
  --ring-mb M        ring buffer size in MiB, a power of two (default 64)
  --runs SPEC        live runs, comma-separated MODE:RECORDS_PER_CALL[@EVENTS_PER_S]
                     MODE = json | decode; @rate limits the offered load
                     (default "decode:4,json:1,json:4,json:2@2.6M,json:4@2.6M");
                     "none" = no live runs
  --capacity-reps N  prefilled-ring drains per mode before the live runs; 0 = none (default 3)
  --capacity-modes M comma-separated modes of those drains (default "decode,line,encode,json"):
                     decode; line = + the JSON line built (then dropped); encode = + the
                     exporter's concatenation and UTF-8 encoding, written nowhere; json = + the
                     writes to the file. The differences are the cost of each stage.
  --dir DIR          where the JSON files go (default: a temp dir under /tmp); removed after
  --no-pin           do not pin the consumer to CPU 0 and the generator to CPU 1
  --pause-page-reporting
                     pause the VM's free page reporting for the runs (restored at the end):
                     with it on, each page-cache page the export file takes is faulted in by
                     the hypervisor, which bare-metal hosts never pay (see bench/_page_reporting.ts)`;

const CAPACITY_LABELS = {
  decode: "decode only",
  line: "decode + JSON line",
  encode: "+ exporter encoding (no write)",
  json: "+ export file (all of it)",
} as const;

const flags = parseFlags(Deno.args, {
  seconds: "number",
  "ring-mb": "number",
  runs: "string",
  "capacity-reps": "number",
  "capacity-modes": "string",
  dir: "string",
  "no-pin": "boolean",
  "pause-page-reporting": "boolean",
}, USAGE);
const SECONDS = (flags["seconds"] as number | undefined) ?? 5;
const RING_MB = (flags["ring-mb"] as number | undefined) ?? 64;
const RUNS = (flags["runs"] as string | undefined) ??
  "decode:4,json:1,json:4,json:2@2.6M,json:4@2.6M";
const CAPACITY_REPS = (flags["capacity-reps"] as number | undefined) ?? 3;
const CAPACITY_MODES =
  ((flags["capacity-modes"] as string | undefined) ?? "decode,line,encode,json")
    .split(",").map((m) => {
      if (!(m in CAPACITY_LABELS)) throw new Error(`--capacity-modes: bad mode '${m}'`);
      return m as CapacityMode;
    });
const PIN = flags["no-pin"] !== true && onlineCpus() >= 2;
const RING_BYTES = RING_MB * 1024 * 1024;
const TARGET_EVENTS_PER_S = 2_500_000;
const SLICE = 16384; // RingReader's default slice

type Mode = "json" | "decode";
/** Stages of the consumer, each one including the ones before it. */
type CapacityMode = Mode | "line" | "encode";
interface RunSpec {
  readonly mode: Mode;
  readonly recordsPerCall: number;
  /** Offered events/s; 0 = unthrottled. */
  readonly rate: number;
}

function parseRuns(spec: string): RunSpec[] {
  if (spec === "none") return [];
  return spec.split(",").map((part) => {
    const m = /^(json|decode):(\d+)(?:@(\d+(?:\.\d+)?)([kM]?))?$/.exec(part.trim());
    if (!m) throw new Error(`--runs: bad entry '${part}'\n${USAGE}`);
    const scale = m[4] === "M" ? 1e6 : m[4] === "k" ? 1e3 : 1;
    const recordsPerCall = Number(m[2]);
    if (recordsPerCall < 1 || recordsPerCall > 64) throw new Error("records per call: 1..64");
    return { mode: m[1] as Mode, recordsPerCall, rate: m[3] ? Number(m[3]) * scale : 0 };
  });
}

/** What the consumer saw. */
interface Tally {
  consumed: number;
  expected: number;
  gaps: number;
  missing: number;
  reordered: number;
  checksum: number;
}

function newTally(): Tally {
  return { consumed: 0, expected: 0, gaps: 0, missing: 0, reordered: 0, checksum: 0 };
}

const KTIME = STRUCTS.vigil_header.fields.ktime.offset;
const NODE_JSON = JSON.stringify(Deno.hostname());

/** The per-record consumer: decode (and, in json mode, one export line per event). */
function makeHandler(
  mode: CapacityMode,
  t: Tally,
  out: JsonLinesExporter | null,
  clock: BootTimeFormatter,
): RecordHandler {
  return (view, at, length) => {
    const r = decodeRecord(view, at, length);
    if (r.kind !== "bench") throw new Error(`unexpected record kind ${r.kind}`);
    const seq = r.seq;
    if (seq !== t.expected) {
      if (seq > t.expected) {
        t.gaps++;
        t.missing += seq - t.expected;
      } else {
        t.reordered++;
      }
    }
    t.expected = seq + 1;
    t.consumed++;
    if (mode === "decode") {
      t.checksum += r.value;
      return;
    }
    // decodeBench leaves ktime at 0n (numbers only); the exec/exit decoders read it as a bigint,
    // and the agent formats every event's time from it, so the bench line does the same.
    const time = clock.format(view.getBigUint64(at + KTIME, true));
    const line = `{"bench":{"pid":${r.pid},"tid":${r.tid},"seq":"${seq}","value":${r.value}},` +
      `"node_name":${NODE_JSON},"time":"${time}"}`;
    if (out === null) t.checksum += line.length;
    else out.writeLine(line);
  };
}

/** Counts lines in `base` and its rotated backups `base.N`; returns the count and the last line. */
function countExportLines(base: string): { lines: number; lastLine: string; files: number } {
  const dir = base.slice(0, base.lastIndexOf("/"));
  const name = base.slice(base.lastIndexOf("/") + 1);
  let lines = 0;
  let files = 0;
  const chunk = new Uint8Array(8 << 20);
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name !== name && !entry.name.startsWith(name + ".")) continue;
    files++;
    const file = Deno.openSync(`${dir}/${entry.name}`);
    try {
      for (let n = file.readSync(chunk); n !== null && n > 0; n = file.readSync(chunk)) {
        for (let i = chunk.indexOf(10); i >= 0 && i < n; i = chunk.indexOf(10, i + 1)) lines++;
      }
    } finally {
      file.close();
    }
  }
  // The newest lines are at the end of `base` itself.
  const size = Deno.statSync(base).size;
  const file = Deno.openSync(base);
  let lastLine = "";
  try {
    const tailBytes = Math.min(size, 4096);
    const tail = new Uint8Array(tailBytes);
    file.seekSync(size - tailBytes, Deno.SeekMode.Start);
    let got = 0;
    while (got < tailBytes) {
      const n = file.readSync(tail.subarray(got));
      if (n === null || n === 0) break;
      got += n;
    }
    const text = new TextDecoder().decode(tail.subarray(0, got)).trimEnd();
    lastLine = text.slice(text.lastIndexOf("\n") + 1);
  } finally {
    file.close();
  }
  return { lines, lastLine, files };
}

function removeExports(base: string): void {
  const dir = base.slice(0, base.lastIndexOf("/"));
  const name = base.slice(base.lastIndexOf("/") + 1);
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name === name || entry.name.startsWith(name + ".")) {
      Deno.removeSync(`${dir}/${entry.name}`);
    }
  }
}

const rodata = RODATA["bench.bpf.o"].bench_cfg;
if (rodata.size !== 8) {
  throw new Error(`bench.bpf.o: bench_cfg is ${rodata.size} bytes, this script expects 8`);
}

print(`vigil bench: ring throughput (${machineLine()})`);
print(
  `producer: bench_produce on tp_btf/sys_enter (getppid of one process), records of ` +
    `${STRUCTS.vigil_bench.size} B + 8 B header, ring ${RING_MB} MiB; consumer: RingReader + ` +
    `decodeRecord [+ JSON line + createJsonLinesExporter to a file]; ` +
    (PIN ? "consumer pinned to CPU 0, generator to CPU 1" : "unpinned"),
);
print(await hostActivity());
const reporting = pageReporting();
const PAUSE_REPORTING = flags["pause-page-reporting"] === true && reporting.active;
print(pageReportingLine(reporting, PAUSE_REPORTING));
if (PIN) await run("taskset", ["-a", "-p", "-c", "0", String(Deno.pid)]);

const c = await compileC(["getppid_loop"]);
const dir = (flags["dir"] as string | undefined) ??
  Deno.makeTempDirSync({ prefix: "vigil_bench_ring_" });
const ownDir = flags["dir"] === undefined;
const rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
const clock = new BootTimeFormatter(measureBootEpochNs());
const generator = c.path("getppid_loop");

interface Loaded {
  object: BpfObject;
  child: Deno.ChildProcess;
  stdout: Promise<string>;
}

/** Spawns the generator (waiting for "go"), loads bench.bpf.o for its pid and attaches. */
function startProducer(seconds: number, recordsPerCall: number, callsPerS: number): Loaded {
  const child = new Deno.Command(generator, {
    args: ["timed", String(seconds), String(callsPerS), String(PIN ? 1 : -1)],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  try {
    const object = loadBenchObject(rt, ["bench_produce"], {
      maxEntries: { bench_events: RING_BYTES },
      rodata: (view) => {
        view.setUint32(rodata.offset + 0, child.pid, true); // target_tgid
        view.setUint32(rodata.offset + 4, recordsPerCall, true); // records_per_call
      },
    });
    try {
      object.attach("bench_produce");
    } catch (err) {
      object.close();
      throw err;
    }
    return { object, child, stdout };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

async function go(p: Loaded): Promise<{ calls: number; ns: number }> {
  const writer = p.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("go\n"));
  await writer.close();
  await p.child.status;
  const kv = keyValues(await p.stdout);
  return { calls: kv["calls"]!, ns: kv["ns"]! };
}

function kernelCounts(object: BpfObject): { drops: number; attempts: number } {
  const drops = Number(object.map("counters").sumPerCpuCounters()[0] ?? 0n);
  const value = new BigUint64Array(1);
  object.map("bench_seq").lookup(new Uint8Array(4), new Uint8Array(value.buffer));
  return { drops, attempts: Number(value[0]) };
}

/** CPU time of this process (all threads) since `since`, in ns. */
function cpuNs(since: NodeJS.CpuUsage): { total: number; user: number; sys: number } {
  const u = cpuUsage(since);
  return { total: (u.user + u.system) * 1000, user: u.user * 1000, sys: u.system * 1000 };
}

/**
 * Host-wide activity from /proc/stat: processes forked (other sessions' work shows here) and the
 * steal jiffies of all CPUs. (Per-CPU busy time from /proc/stat is tick-sampled and overcharges a
 * consumer that wakes on timer ticks, so it is not used.)
 */
function hostStat(): { forks: number; steal: number; total: number } {
  const text = Deno.readTextFileSync("/proc/stat");
  const cpu = /^cpu (.*)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
  return {
    forks: Number(/^processes (\d+)$/m.exec(text)?.[1] ?? 0),
    steal: cpu[7] ?? 0,
    total: cpu.slice(0, 8).reduce((a, b) => a + b, 0),
  };
}

interface Capacity {
  records: number;
  perS: number;
  cpuNsPerEvent: number;
  userNsPerEvent: number;
  sysNsPerEvent: number;
}

/** Fills the ring with no consumer (1 s of 4 records per call), then times a synchronous drain. */
async function capacityRun(mode: CapacityMode, index: number): Promise<Capacity> {
  const p = startProducer(1, 4, 0);
  const path = `${dir}/capacity-${index}.json`;
  const out = mode === "json"
    ? createJsonLinesExporter({ path, maxBackups: 1000 })
    : mode === "encode"
    ? createJsonLinesExporter({ path, sink: { writeSync: (bytes) => bytes.length } })
    : null;
  try {
    const reader = new RingReader(rt.libc, p.object.map("bench_events").fd, RING_BYTES);
    try {
      await go(p);
      const t = newTally();
      const handler = makeHandler(mode, t, out, clock);
      const cpu0 = cpuUsage();
      const t0 = performance.now();
      while (reader.drain(handler, SLICE) > 0) out?.flush();
      const wallNs = (performance.now() - t0) * 1e6;
      const cpu = cpuNs(cpu0);
      if (t.gaps !== 0 || t.reordered !== 0) {
        throw new Error(
          `capacity: ${t.gaps} gaps, ${t.reordered} out of order in a prefilled ring`,
        );
      }
      return {
        records: t.consumed,
        perS: t.consumed / wallNs * 1e9,
        cpuNsPerEvent: cpu.total / t.consumed,
        userNsPerEvent: cpu.user / t.consumed,
        sysNsPerEvent: cpu.sys / t.consumed,
      };
    } finally {
      reader.close();
    }
  } finally {
    out?.close();
    p.object.close();
    if (mode === "json") removeExports(path);
  }
}

interface Live {
  spec: RunSpec;
  calls: number;
  producerNs: number;
  attempts: number;
  consumed: number;
  drops: number;
  tally: Tally;
  windowNs: number;
  cpuNs: number;
  userNs: number;
  sysNs: number;
  fileLines: number;
  fileLinesOk: boolean;
  lastLineOk: boolean;
  exporterErrors: number;
  bytes: number;
  files: number;
  maxSlicesGapMs: number;
  /** Most records waiting in the ring after a drained slice. */
  maxBacklog: number;
  /** Where the consumer CPU's time went (/proc/stat, % of the window). */
  /** Other processes forked on the host during the run (ours excluded). */
  foreignForks: number;
  /** Steal time of all CPUs during the run, %. */
  stealPct: number;
}

async function liveRun(spec: RunSpec, index: number): Promise<Live> {
  const callsPerS = spec.rate > 0 ? spec.rate / spec.recordsPerCall : 0;
  const p = startProducer(SECONDS, spec.recordsPerCall, callsPerS);
  const path = `${dir}/live-${index}.json`;
  const out = spec.mode === "json" ? createJsonLinesExporter({ path, maxBackups: 1000 }) : null;
  try {
    const reader = new RingReader(rt.libc, p.object.map("bench_events").fd, RING_BYTES);
    try {
      const t = newTally();
      const handler = makeHandler(spec.mode, t, out, clock);
      // Longest gap between two drained slices: how long the consumer left the ring alone.
      let lastSlice = performance.now();
      let maxGap = 0;
      let maxPending = 0;
      const host0 = hostStat();
      const cpu0 = cpuUsage();
      const t0 = performance.now();
      const running = reader.run(handler, {
        afterDrain: () => {
          out?.flush();
          const now = performance.now();
          if (now - lastSlice > maxGap) maxGap = now - lastSlice;
          lastSlice = now;
          const pending = reader.pending();
          if (pending > maxPending) maxPending = pending;
        },
      });
      const produced = await go(p);
      while (reader.pending() > 0) await sleep(1);
      const windowNs = (performance.now() - t0) * 1e6;
      const cpu = cpuNs(cpu0);
      const host1 = hostStat();
      await reader.stop();
      await running;
      out?.close();
      const k = kernelCounts(p.object);
      let fileLines = 0;
      let lastLineOk = true;
      let files = 0;
      if (out) {
        const counted = countExportLines(path);
        fileLines = counted.lines;
        files = counted.files;
        try {
          const last = JSON.parse(counted.lastLine);
          lastLineOk = last.bench?.seq === String(t.expected - 1);
        } catch {
          lastLineOk = false;
        }
      }
      return {
        spec,
        calls: produced.calls,
        producerNs: produced.ns,
        attempts: k.attempts,
        consumed: t.consumed,
        drops: k.drops,
        tally: t,
        windowNs,
        cpuNs: cpu.total,
        userNs: cpu.user,
        sysNs: cpu.sys,
        fileLines,
        fileLinesOk: out === null || fileLines === t.consumed,
        lastLineOk,
        exporterErrors: out?.counters.errors ?? 0,
        bytes: out?.counters.bytesWritten ?? 0,
        files,
        maxSlicesGapMs: maxGap,
        maxBacklog: Math.round(maxPending / (STRUCTS.vigil_bench.size + 8)),
        foreignForks: host1.forks - host0.forks, // the generator was forked before
        stealPct: (host1.steal - host0.steal) / Math.max(host1.total - host0.total, 1) * 100,
      };
    } finally {
      reader.close();
    }
  } finally {
    out?.close();
    p.object.close();
    if (out) removeExports(path);
  }
}

const specs = parseRuns(RUNS);

function runName(spec: RunSpec): string {
  const rate = spec.rate ? `@${fmt(spec.rate / 1e6, 2)}M` : "";
  return `${spec.mode}:${spec.recordsPerCall}${rate}`;
}
// Paused only around the runs, so a failure before them leaves the machine as it was.
const resumeReporting = PAUSE_REPORTING ? pausePageReporting() : () => {};
const onInterrupt = () => {
  resumeReporting();
  Deno.exit(130);
};
Deno.addSignalListener("SIGINT", onInterrupt);
try {
  if (CAPACITY_REPS > 0) {
    print("");
    print(
      `capacity: drain of a prefilled ${RING_MB} MiB ring, no producer running ` +
        `(synchronous drain in ${SLICE}-record slices, flush after each)`,
    );
    const wallNs = new Map<CapacityMode, number>();
    for (const mode of CAPACITY_MODES) {
      const reps: Capacity[] = [];
      for (let i = 0; i < CAPACITY_REPS; i++) reps.push(await capacityRun(mode, i));
      // The rep with the median rate, reported whole (its CPU split belongs to it).
      const mid = [...reps].sort((a, b) => a.perS - b.perS)[Math.floor(reps.length / 2)]!;
      wallNs.set(mode, 1e9 / mid.perS);
      const label = CAPACITY_LABELS[mode];
      print(
        `  ${label.padEnd(34)} ${mega(mid.perS)} events/s, ${fmt(mid.cpuNsPerEvent, 0)} CPU ` +
          `ns/event (user ${fmt(mid.userNsPerEvent, 0)} + sys ${fmt(mid.sysNsPerEvent, 0)}); ` +
          `median of ${reps.length} drains of ${mid.records} records: ` +
          `${reps.map((r) => mega(r.perS)).join(", ")} events/s`,
      );
    }
    // Each mode adds one stage to the one before it: the differences price the stages.
    const stages = CAPACITY_MODES.flatMap((mode, i) => {
      const before = i === 0 ? 0 : wallNs.get(CAPACITY_MODES[i - 1]!)!;
      return [`${mode} ${fmt(wallNs.get(mode)! - before, 0)}`];
    });
    print(`  ns/event added by each stage (median drains): ${stages.join(", ")}`);
  }

  print("");
  print(
    `live: ${SECONDS} s per run; events/s end to end = consumed / (start signal -> ring empty)`,
  );
  const results: Live[] = [];
  const summary: string[] = [];
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    const r = await liveRun(spec, i);
    results.push(r);
    const name = runName(spec);
    const offered = r.attempts / r.producerNs * 1e9;
    const consumedPerS = r.consumed / r.windowNs * 1e9;
    const dropPct = r.attempts > 0 ? r.drops / r.attempts * 100 : 0;
    // Drops after the last consumed record show as no gap: count them from the attempts.
    const missing = r.tally.missing + Math.max(r.attempts - r.tally.expected, 0);
    const consistent = r.consumed + r.drops === r.attempts && missing === r.drops &&
      r.tally.reordered === 0;
    const cpuPct = r.cpuNs / r.windowNs * 100;
    const perEvent = (ns: number) => fmt(ns / Math.max(r.consumed, 1), 0);
    print(
      `  ${name.padEnd(13)} offered ${mega(offered)} ev/s -> consumed ${
        mega(consumedPerS)
      } ev/s; ` +
        `drops ${r.drops} (${fmt(dropPct, 2)} %); seq gaps ${r.tally.gaps}, missing seqs ` +
        `${missing} ${missing === r.drops ? "==" : "!="} drops; consumed + drops ` +
        `${consistent ? "==" : "!="} attempted (${r.attempts})` +
        `${r.tally.reordered ? `; ${r.tally.reordered} OUT OF ORDER` : ""}`,
    );
    print(
      `                consumer CPU ${fmt(cpuPct, 1)} % = ${perEvent(r.cpuNs)} ns/event (user ` +
        `${perEvent(r.userNs)} + sys ${perEvent(r.sysNs)}); max backlog ${r.maxBacklog} records ` +
        `(${fmt(r.maxBacklog / Math.max(consumedPerS, 1) * 1e3, 0)} ms of input); max gap ` +
        `between drained slices ${fmt(r.maxSlicesGapMs, 1)} ms`,
    );
    if (spec.mode === "json") {
      print(
        `                export: ${r.fileLines} lines in ${r.files} file(s) ` +
          `${r.fileLinesOk ? "== consumed" : "!= consumed"}, ` +
          `${r.lastLineOk ? "last line's seq ok" : "LAST LINE WRONG"}` +
          `${r.exporterErrors ? `, ${r.exporterErrors} write errors` : ""}, ` +
          `${fmt(r.bytes / r.windowNs * 1e3, 0)} MB/s`,
      );
    }
    print(
      `                producer ${mega(r.calls / r.producerNs * 1e9)} getppid/s; ` +
        `other processes forked on the host during the run: ${r.foreignForks}; steal ` +
        `${fmt(r.stealPct, 1)} %`,
    );
    summary.push(
      `| ${name} | ${mega(offered)} | ${mega(consumedPerS)} | ${r.drops} (${
        fmt(dropPct, 2)
      } %) | ` +
        `${r.tally.gaps} | ${fmt(cpuPct, 0)} % | ${perEvent(r.cpuNs)} |`,
    );
  }
  print("");
  print("| run | offered ev/s | consumed ev/s | drops | seq gaps | consumer CPU | CPU ns/event |");
  print("|---|---|---|---|---|---|---|");
  for (const line of summary) print(line);
  print("");
  const json = results.filter((r) => r.spec.mode === "json");
  const meeting = json.filter((r) =>
    r.drops === 0 && r.consumed / r.windowNs * 1e9 >= TARGET_EVENTS_PER_S && r.fileLinesOk
  );
  const best = json.reduce<Live | undefined>(
    (b, r) => r.drops === 0 && (!b || r.consumed / r.windowNs > b.consumed / b.windowNs) ? r : b,
    undefined,
  );
  print(
    `target: >= ${mega(TARGET_EVENTS_PER_S)} events/s end to end into the JSON file with zero ` +
      `drops: ` +
      (best
        ? `best zero-drop JSON run ${runName(best.spec)} at ` +
          `${mega(best.consumed / best.windowNs * 1e9)} events/s, `
        : "no JSON run without drops, ") +
      `${meeting.length} of ${json.length} JSON runs meet it` +
      (reporting.active ? `; free page reporting ${PAUSE_REPORTING ? "paused" : "ON"}` : ""),
  );
} finally {
  resumeReporting();
  Deno.removeSignalListener("SIGINT", onInterrupt);
  rt.close();
  c.close();
  if (ownDir) Deno.removeSync(dir, { recursive: true });
}
