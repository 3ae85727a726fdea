/**
 * Container storm (issue 15): the exec storm of `bench/c/exec_storm.c` on the host and inside a
 * runc container, without and with the agent (tracking only), in interleaved rounds (the order
 * of host/container alternates per round). Prints per place the median wall times and the
 * agent/none ratio, the agent's CPU per exec (utime+stime, all threads), and, in one extra run
 * with kernel.bpf_stats_enabled, the kernel time per run of the agent's own BPF programs during
 * each storm: the CPU-time measures say whether a container's exec costs vigil more than a host
 * exec when the wall times are too noisy to (a loaded 2-core machine).
 *
 * Numbers only, no assertions. Run: `deno run --allow-all bench/container_storm.ts [--execs N]
 * [--rounds R] [--no-bpf-stats]`
 *
 * @module
 */
import {
  AgentProcess,
  compileC,
  fmt,
  hostActivity,
  keyValues,
  machineLine,
  median,
  parseFlags,
  print,
  run,
  sleep,
} from "./_lib.ts";
import { randomHex, RuncSession } from "../tests/_helpers/runc.ts";

const USAGE = `usage: deno run --allow-all bench/container_storm.ts [options]
  --execs N       fork+exec per storm (default 2000)
  --rounds R      rounds of (no agent, agent), host and container in each (default 5)
  --no-bpf-stats  skip the extra run that measures the BPF programs' kernel time`;

const flags = parseFlags(Deno.args, {
  execs: "number",
  rounds: "number",
  "no-bpf-stats": "boolean",
}, USAGE);
const EXECS = (flags["execs"] as number | undefined) ?? 2000;
const ROUNDS = (flags["rounds"] as number | undefined) ?? 5;
const BPF_COST = flags["no-bpf-stats"] !== true;
const AGENT_ARGS = ["--policy-dir", "", "--listen", ""];
const PLACES = ["host", "container"] as const;
type Place = typeof PLACES[number];

/** utime + stime of a process (all its threads), in ms (USER_HZ 100). */
function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The pid of the agent exporting to `exportPath` (the only process naming that file). */
function agentPid(exportPath: string): number {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (argv.includes("run") && argv.includes(exportPath)) return Number(entry.name);
    } catch { /* exited */ }
  }
  throw new Error(`no agent process exporting to ${exportPath}`);
}

/** Ids of the BPF programs a process holds. */
function programIds(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)$/m.exec(
        Deno.readTextFileSync(`/proc/${pid}/fdinfo/${entry.name}`),
      );
      if (m) ids.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return ids;
}

/** run_time_ns and run_cnt per program name, of the programs in `ids`. */
async function bpfStats(ids: Set<number>): Promise<Map<string, [number, number]>> {
  const out = new Map<string, [number, number]>();
  for (const p of JSON.parse(await run("bpftool", ["-j", "prog", "show"]))) {
    if (!ids.has(p.id)) continue;
    const [ns, cnt] = out.get(p.name) ?? [0, 0];
    out.set(p.name, [ns + (p.run_time_ns ?? 0), cnt + (p.run_cnt ?? 0)]);
  }
  return out;
}

const c = await compileC(["exec_storm"]);
await using session = await RuncSession.open();
await using container = await session.start(`/vigil-bench-storm-${randomHex(6)}`);
await Deno.copyFile(c.path("exec_storm"), `/proc/${container.pid}/root/tmp/exec_storm`);
await Deno.chmod(`/proc/${container.pid}/root/tmp/exec_storm`, 0o755);

/** One storm; wall ns from the driver. */
async function storm(place: Place): Promise<number> {
  if (place === "host") return keyValues(await run(c.path("exec_storm"), [String(EXECS)])).ns!;
  const out = await container.exec(["/tmp/exec_storm", String(EXECS)]);
  if (out.code !== 0) throw new Error(`storm in the container failed: ${out.stderr}`);
  return keyValues(out.stdout).ns!;
}

const exportDir = Deno.makeTempDirSync({ prefix: "vigil_container_storm_" });
const exportPath = `${exportDir}/events.jsonl`;

print(`vigil bench: exec storm on the host vs in a runc container (${machineLine()})`);
print(`${EXECS} fork+exec of /bin/true per storm, ${ROUNDS} rounds; agent: tracking only`);
print(await hostActivity());

const wall = {
  none: { host: [] as number[], container: [] as number[] },
  agent: { host: [] as number[], container: [] as number[] },
};
const agentCpu = { host: [] as number[], container: [] as number[] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    const order: readonly Place[] = r % 2 === 0 ? PLACES : [...PLACES].reverse();
    for (const place of order) wall.none[place].push(await storm(place) / 1e6);
    const { agent } = await AgentProcess.start(exportPath, AGENT_ARGS);
    const pid = agentPid(exportPath);
    await sleep(1000);
    for (const place of order) {
      const before = cpuMs(pid);
      wall.agent[place].push(await storm(place) / 1e6);
      await sleep(100); // the last records drain
      agentCpu[place].push((cpuMs(pid) - before) * 1000 / EXECS);
    }
    await agent.stop();
    Deno.truncateSync(exportPath);
  }

  print();
  print(
    "place      | none ms (median) | agent ms (median) | ratio of medians | per-round ratios | agent CPU µs/exec",
  );
  for (const place of PLACES) {
    const none = median(wall.none[place]);
    const withAgent = median(wall.agent[place]);
    const perRound = wall.agent[place].map((a, i) => fmt(a / wall.none[place][i]!, 3));
    print(
      `${place.padEnd(10)} | ${fmt(none, 1, 16)} | ${fmt(withAgent, 1, 17)} | ${
        fmt(withAgent / none, 3, 16)
      } | ${perRound.join(" ")} | ${fmt(median(agentCpu[place]), 0)} (${
        agentCpu[place].map((x) => fmt(x, 0)).join(" ")
      })`,
    );
  }

  if (BPF_COST) {
    await run("sysctl", ["-q", "-w", "kernel.bpf_stats_enabled=1"]);
    const perRun = { host: new Map<string, number[]>(), container: new Map<string, number[]>() };
    try {
      const { agent } = await AgentProcess.start(exportPath, AGENT_ARGS);
      const ids = programIds(agentPid(exportPath));
      await sleep(1000);
      for (let r = 0; r < Math.max(2, Math.min(ROUNDS, 4)); r++) {
        for (const place of r % 2 === 0 ? PLACES : [...PLACES].reverse()) {
          const before = await bpfStats(ids);
          await storm(place);
          for (const [name, [ns, cnt]] of await bpfStats(ids)) {
            const [ns0, cnt0] = before.get(name) ?? [0, 0];
            if (cnt === cnt0) continue;
            const list = perRun[place].get(name) ?? [];
            list.push((ns - ns0) / (cnt - cnt0));
            perRun[place].set(name, list);
          }
        }
      }
      await agent.stop();
    } finally {
      await run("sysctl", ["-q", "-w", "kernel.bpf_stats_enabled=0"]);
    }
    print();
    print(
      "BPF kernel time per program run (bpf_stats; median, runs include the rest of the host):",
    );
    for (const place of PLACES) {
      const parts = [...perRun[place]].map(([name, xs]) =>
        `${name} ${fmt(median(xs) / 1000, 2)} µs`
      );
      print(`  ${place.padEnd(10)} ${parts.join(", ")}`);
    }
  }
  print();
  print(await hostActivity());
} finally {
  Deno.removeSync(exportDir, { recursive: true });
  c.close();
}
