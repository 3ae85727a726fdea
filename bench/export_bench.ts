/**
 * Exporter throughput: 2M typical `process_exec` lines through `createJsonLinesExporter`, to a file
 * in a temp dir (default rotation: 100 MiB × 5 backups) and to /dev/null, plus, for context, the
 * cost of building the lines and of naive per-line `writeSync`. Prints numbers, asserts nothing.
 *
 * Run: `deno run --allow-read --allow-write bench/export_bench.ts [lines] [runs]`
 *
 * @module
 */
import { cpuUsage } from "node:process";
import { createJsonLinesExporter } from "../src/export/json_lines.ts";
import { cachedProcessJson, execEventLine } from "../src/events/process_json.ts";
import { execId } from "../src/process/exec_id.ts";
import { BootTimeFormatter, shellQuoteArgs } from "../src/process/format.ts";
import type { ProcessInfo } from "../src/process/types.ts";

const LINES = Number(Deno.args[0] ?? 2_000_000);
const RUNS = Number(Deno.args[1] ?? 3);
const NODE = "vigil-bench-node-01";
const BOOT_EPOCH_NS = 1_795_323_995_877_431_557n;
const encoder = new TextEncoder();

function print(line: string): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

function proc(pid: number, ktime: bigint, parent: ProcessInfo | undefined): ProcessInfo {
  const clock = new BootTimeFormatter(BOOT_EPOCH_NS);
  return {
    pid,
    tid: pid,
    ktime,
    execId: execId(NODE, ktime, pid),
    parentPid: parent?.pid ?? 1,
    parentKtime: parent?.ktime ?? 1_000_000n,
    parentExecId: parent?.execId ?? execId(NODE, 1_000_000n, 1),
    binary: parent ? "/usr/bin/curl" : "/bin/bash",
    arguments: parent
      ? shellQuoteArgs(["-sS", "-H", "Accept: application/json", `https://api.example/v1/x/${pid}`])
      : shellQuoteArgs(["-c", "while true; do curl -s localhost; done"]),
    cwd: "/home/builder/project",
    uid: 1000,
    auid: 1000,
    flags: ["execve", "clone"],
    startTime: clock.format(ktime),
    cgroupId: 4242n,
    refcnt: 1,
  };
}

/** 1024 distinct exec lines (different pids, times, args), as the agent would produce them. */
function typicalLines(): string[] {
  const shell = proc(4000, 100_000_000_000n, undefined);
  const clock = new BootTimeFormatter(BOOT_EPOCH_NS);
  const lines: string[] = [];
  for (let i = 0; i < 1024; i++) {
    const k = 200_000_000_000n + BigInt(i) * 1_234_567n;
    lines.push(execEventLine(proc(5000 + i, k, shell), shell, NODE, clock.format(k)));
  }
  return lines;
}

interface Result {
  wallNs: number;
  cpuNs: number;
  bytes: number;
}

function measure(run: () => number): Result {
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  const bytes = run();
  const wallNs = (performance.now() - t0) * 1e6;
  const cpu = cpuUsage(cpu0);
  return { wallNs, cpuNs: (cpu.user + cpu.system) * 1000, bytes };
}

function exporterRun(path: string, lines: string[], count: number): number {
  const out = createJsonLinesExporter({ path });
  for (let i = 0; i < count; i++) {
    out.writeLine(lines[i & 1023]!);
    if ((i & 4095) === 4095) out.flush(); // the agent flushes after each drained slice
  }
  out.close();
  if (out.counters.errors !== 0) throw new Error(`${path}: ${out.counters.errors} errors`);
  return out.counters.bytesWritten;
}

function naiveRun(path: string, lines: string[], count: number): number {
  const file = Deno.openSync(path, { write: true });
  let bytes = 0;
  try {
    for (let i = 0; i < count; i++) {
      bytes += file.writeSync(encoder.encode(lines[i & 1023]! + "\n"));
    }
  } finally {
    file.close();
  }
  return bytes;
}

function buildRun(count: number, fresh: boolean): number {
  const shell = proc(4000, 100_000_000_000n, undefined);
  const procs: ProcessInfo[] = [];
  for (let i = 0; i < 1024; i++) procs.push(proc(5000 + i, 200_000_000_000n + BigInt(i), shell));
  const clock = new BootTimeFormatter(BOOT_EPOCH_NS);
  let bytes = 0;
  let k = 300_000_000_000n;
  for (let i = 0; i < count; i++) {
    k += 1_000n;
    const p = procs[i & 1023]!;
    if (fresh) p.json = undefined; // an exec: its process object is serialized for the first time
    bytes += execEventLine(p, shell, NODE, clock.format(k)).length;
  }
  cachedProcessJson(shell);
  return bytes;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function report(name: string, count: number, results: Result[]): void {
  const wall = median(results.map((r) => r.wallNs)) / count;
  const cpu = median(results.map((r) => r.cpuNs)) / count;
  const bytes = results[0]!.bytes;
  const runs = results.map((r) => ((count / r.wallNs) * 1e3).toFixed(2)).join(", ");
  print(
    `${name.padEnd(38)} ${(1e3 / wall).toFixed(2).padStart(6)} M events/s  ` +
      `${wall.toFixed(0).padStart(5)} ns/event wall  ${cpu.toFixed(0).padStart(5)} ns/event CPU  ` +
      `${((bytes / (wall * count)) * 1e3).toFixed(0).padStart(5)} MB/s  [runs: ${runs} M/s]`,
  );
}

const lines = typicalLines();
const avg = lines.reduce((a, l) => a + encoder.encode(l).length + 1, 0) / lines.length;
print(`vigil export bench: ${LINES} exec lines of ~${avg.toFixed(0)} B, ${RUNS} runs, median`);

const dir = Deno.makeTempDirSync({ prefix: "vigil_export_bench_" });
try {
  exporterRun("/dev/null", lines, 200_000); // warm-up
  const devNull: Result[] = [];
  const file: Result[] = [];
  for (let r = 0; r < RUNS; r++) {
    devNull.push(measure(() => exporterRun("/dev/null", lines, LINES)));
    const path = `${dir}/events-${r}.json`;
    file.push(measure(() => exporterRun(path, lines, LINES)));
    for (const entry of Deno.readDirSync(dir)) Deno.removeSync(`${dir}/${entry.name}`);
  }
  report("exporter → /dev/null", LINES, devNull);
  report("exporter → ext4 file (rotating)", LINES, file);

  const naiveCount = Math.min(LINES, 200_000);
  const naive = [measure(() => naiveRun("/dev/null", lines, naiveCount))];
  report("naive writeSync per line → /dev/null", naiveCount, naive);
  buildRun(100_000, true);
  report("build exec line, process JSON cached", LINES, [measure(() => buildRun(LINES, false))]);
  report("build exec line + serialize process", LINES, [measure(() => buildRun(LINES, true))]);
} finally {
  Deno.removeSync(dir, { recursive: true });
}
