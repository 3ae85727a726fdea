/**
 * Footprint benchmark (issue 15): RSS idle, with the example policies and at peak during an exec
 * storm; kernel memory of the agent's BPF maps (memlock from /proc/PID/fdinfo, per map); spawn to
 * ready. Next to the same run's baseline: a bare `deno run` of an idle script. Rounds interleave
 * baseline, tracking only and with policies; the table shows medians. Prints, asserts nothing.
 *
 * @module
 */
import {
  AgentProcess,
  compileC,
  ensureTracefs,
  hostActivity,
  machineLine,
  median,
  parseFlags,
  print,
  readRss,
  REPO_ROOT,
  run,
  sleep,
} from "./_lib.ts";

const USAGE = `deno run --allow-all bench/footprint.ts [--rounds N] [--execs N] [--settle-ms N]
  --rounds N      interleaved rounds (default 3)
  --execs N       execs in the storm while the policies agent runs (default 3000)
  --settle-ms N   wait after ready before reading idle RSS (default 1500)
  --policy-dir D  policies for the "with policies" run (default policies/)
  --verbose       print every map of the last round`;

const flags = parseFlags(Deno.args, {
  rounds: "number",
  execs: "number",
  "settle-ms": "number",
  "policy-dir": "string",
  verbose: "boolean",
}, USAGE);
const rounds = (flags.rounds as number | undefined) ?? 3;
const execs = (flags.execs as number | undefined) ?? 3000;
const settleMs = (flags["settle-ms"] as number | undefined) ?? 1500;
const policyDir = (flags["policy-dir"] as string | undefined) ?? `${REPO_ROOT}policies`;
const MiB = 1024 * 1024;

/** One BPF map an agent holds, from its fdinfo. */
interface MapMemory {
  readonly id: number;
  readonly type: number;
  readonly name: string;
  readonly bytes: number;
}

/** Maps held by `pid` (deduplicated by map id), with their memlock bytes and names. */
async function mapsOf(pid: number): Promise<MapMemory[]> {
  const byId = new Map<number, { type: number; bytes: number }>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fdinfo`)) {
    let text: string;
    try {
      text = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${entry.name}`);
    } catch {
      continue;
    }
    const id = /^map_id:\s+(\d+)/m.exec(text)?.[1];
    if (id === undefined) continue;
    byId.set(Number(id), {
      type: Number(/^map_type:\s+(\d+)/m.exec(text)?.[1] ?? -1),
      bytes: Number(/^memlock:\s+(\d+)/m.exec(text)?.[1] ?? 0),
    });
  }
  const names = new Map<number, string>();
  try {
    for (const m of JSON.parse(await run("bpftool", ["-j", "map", "show"]))) {
      names.set(m.id, m.name ?? "?");
    }
  } catch { /* bpftool missing: ids only */ }
  return [...byId].map(([id, m]) => ({ id, ...m, name: names.get(id) ?? `#${id}` }));
}

const sumBytes = (maps: readonly MapMemory[]) => maps.reduce((a, m) => a + m.bytes, 0);

/** A bare `deno run` of an idle script: RSS after settling and spawn to its first line. */
async function baseline(): Promise<{ rssKb: number; readyMs: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "console.log('ready'); setTimeout(() => {}, 60_000)"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read();
  const readyMs = performance.now() - t0;
  await sleep(settleMs);
  const { rssKb } = readRss(child.pid);
  child.kill("SIGKILL");
  reader.releaseLock();
  await child.stdout.cancel();
  await child.status;
  return { rssKb, readyMs };
}

interface AgentRun {
  readonly readyMs: number;
  readonly startupMs: number;
  readonly rssKb: number;
  readonly peakKb: number;
  readonly maps: MapMemory[];
  /** Ring records the kernel could not reserve (the agent's stopped line). */
  kernelDrops: number;
}

async function agentRun(args: string[], storm: string | null): Promise<AgentRun> {
  const exportPath = Deno.makeTempFileSync({ prefix: "vigil_footprint_", suffix: ".json" });
  try {
    const { agent, start } = await AgentProcess.start(
      exportPath,
      [...args, "--listen", ""],
      // A loaded host (tests, emulated kernels) can stretch verification many times over.
      180_000,
    );
    try {
      await sleep(settleMs);
      const { rssKb } = readRss(agent.pid);
      const maps = await mapsOf(agent.pid);
      let peakKb = readRss(agent.pid).hwmKb;
      if (storm !== null) {
        await run(storm, [String(execs)]);
        await sleep(500);
        peakKb = readRss(agent.pid).hwmKb;
      }
      const result: AgentRun = {
        readyMs: start.spawnToReadyMs,
        startupMs: start.startupMs,
        rssKb,
        peakKb,
        maps,
        kernelDrops: 0,
      };
      result.kernelDrops = (await agent.stop()).kernelDrops;
      return result;
    } catch (err) {
      await agent.stop().catch(() => {});
      throw err;
    }
  } finally {
    Deno.removeSync(exportPath);
  }
}

print(`footprint: ${machineLine()}`);
print(await hostActivity());
const unmount = await ensureTracefs();
const c = await compileC(["exec_storm"]);
const base: { rssKb: number; readyMs: number }[] = [];
const tracking: AgentRun[] = [];
const withPolicies: AgentRun[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    base.push(await baseline());
    tracking.push(await agentRun(["--policy-dir", ""], c.path("exec_storm")));
    withPolicies.push(await agentRun(["--policy-dir", policyDir], c.path("exec_storm")));
    print(`round ${r + 1}/${rounds} done`);
  }
} finally {
  c.close();
  await unmount();
}

const mib = (kb: number) => (kb / 1024).toFixed(1);
const med = (xs: number[]) => median(xs);
const row = (name: string, cells: string[]) =>
  print(`| ${name.padEnd(34)} | ${cells.map((x) => x.padStart(12)).join(" | ")} |`);
print();
print(`medians of ${rounds} interleaved rounds; storm = ${execs} fork+exec of /bin/true`);
row("measure", ["deno idle", "tracking", "5 policies"]);
print(`|${"-".repeat(36)}|${"-".repeat(14)}|${"-".repeat(14)}|${"-".repeat(14)}|`);
row("RSS idle (MiB)", [
  mib(med(base.map((b) => b.rssKb))),
  mib(med(tracking.map((t) => t.rssKb))),
  mib(med(withPolicies.map((t) => t.rssKb))),
]);
row("RSS peak after exec storm (MiB)", [
  "-",
  mib(med(tracking.map((t) => t.peakKb))),
  mib(med(withPolicies.map((t) => t.peakKb))),
]);
row("kernel map memory (MiB)", [
  "0",
  (med(tracking.map((t) => sumBytes(t.maps))) / MiB).toFixed(1),
  (med(withPolicies.map((t) => sumBytes(t.maps))) / MiB).toFixed(1),
]);
row("spawn to ready (s)", [
  (med(base.map((b) => b.readyMs)) / 1000).toFixed(3),
  (med(tracking.map((t) => t.readyMs)) / 1000).toFixed(3),
  (med(withPolicies.map((t) => t.readyMs)) / 1000).toFixed(3),
]);
row("start to ready, agent's own (s)", [
  "-",
  (med(tracking.map((t) => t.startupMs)) / 1000).toFixed(3),
  (med(withPolicies.map((t) => t.startupMs)) / 1000).toFixed(3),
]);
row("kernel drops during the storm (sum)", [
  "-",
  String(tracking.reduce((a, t) => a + t.kernelDrops, 0)),
  String(withPolicies.reduce((a, t) => a + t.kernelDrops, 0)),
]);
const last = withPolicies.at(-1)!;
const trackingIds = new Set(tracking.at(-1)!.maps.map((m) => m.name));
print();
print(
  `policy engine adds ${
    ((sumBytes(last.maps) - sumBytes(tracking.at(-1)!.maps)) / MiB).toFixed(1)
  } MiB of map memory (last round); ${navigator.hardwareConcurrency} CPUs`,
);
if (flags.verbose) {
  print("maps of the last 'with policies' run (memlock KiB; * = also in tracking only):");
  for (const m of [...last.maps].sort((a, b) => b.bytes - a.bytes)) {
    print(
      `  ${(m.bytes / 1024).toFixed(0).padStart(8)}  ${m.name}${
        trackingIds.has(m.name) ? " *" : ""
      } (type ${m.type})`,
    );
  }
}
