/**
 * Operator API benchmarks against the real agent (`main.ts run`, a child process), printed side by
 * side in one run:
 *
 * 1. Policy replace latency: `POST /policies` with a changed message while a generator makes
 *    5000 matching `unlinkat` calls a second. "Active" is request start → the kernel timestamp of
 *    the first event carrying the new message; "round trip" is the HTTP request. The first
 *    replacement on a tracepoint also loads a second instance of the policy program (the kernel
 *    attaches one program once per tracepoint), so it is reported on its own.
 * 2. `/metrics` scrape latency with 100 small policies loaded (each on its own rarely used
 *    syscall, filtered in the kernel by binary), against 1 policy.
 * 3. Event throughput while `/metrics` is scraped 10 times a second vs not scraped, A B / B A
 *    over rounds: events/s end to end (generator start → all counted in
 *    `vigil_events_total`), and agent CPU per event (all its threads, from schedstat), which is
 *    what bounds the agent's capacity. Target: scraping costs < 2 %.
 *
 * Run: `deno run --allow-all bench/api_bench.ts [--replacements N] [--scrapes N] [--events N]
 * [--rounds N]`. Needs root and a built tree (`deno task build`). Asserts nothing.
 *
 * @module
 */
import { startAgentProcess } from "../tests/_helpers/agent_process.ts";
import {
  Api,
  missing,
  SeqCollector,
  seqPolicy,
  seqPrefix,
  sleep,
  startGenerator,
} from "../tests/api_e2e/_e2e.ts";
import { X86_64_SYSCALLS } from "../src/policy/vocab/mod.ts";

const encoder = new TextEncoder();
function print(line = ""): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

function flags(): Record<string, number> {
  const out: Record<string, number> = { replacements: 20, scrapes: 50, events: 500_000, rounds: 4 };
  for (let i = 0; i < Deno.args.length; i++) {
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(Deno.args[i]!);
    if (!m || !(m[1]! in out)) {
      throw new Error(`unknown argument ${Deno.args[i]}; flags: ${Object.keys(out).join(", ")}`);
    }
    out[m[1]!] = Number(m[2] ?? Deno.args[++i]);
  }
  return out;
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
const median = (xs: readonly number[]) => quantile(xs, 0.5);

/** Wall clock in ms with sub-ms precision. */
const wallMs = () => performance.timeOrigin + performance.now();

/** CPU time of every thread of `pid` (or of its main thread only), in ns (schedstat). */
function cpuNs(pid: number, mainOnly = false): number {
  const read = (tid: string) =>
    Number(Deno.readTextFileSync(`/proc/${pid}/task/${tid}/schedstat`).split(" ")[0]);
  if (mainOnly) return read(String(pid));
  let total = 0;
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      total += read(t.name);
    } catch { /* thread gone */ }
  }
  return total;
}

function hostLine(): string {
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  return `${new Date().toISOString()}, kernel ${Deno.osRelease()}, ` +
    `${navigator.hardwareConcurrency} CPUs, load average ${load}, Deno ${Deno.version.deno}`;
}

// Syscalls a host makes all the time: hooking them would tax everything, not the scrape.
const HOT = new Set([
  "read",
  "write",
  "open",
  "close",
  "stat",
  "fstat",
  "lstat",
  "poll",
  "lseek",
  "mmap",
  "mprotect",
  "munmap",
  "brk",
  "rt_sigaction",
  "rt_sigprocmask",
  "rt_sigreturn",
  "ioctl",
  "pread64",
  "pwrite64",
  "readv",
  "writev",
  "access",
  "pipe",
  "select",
  "sched_yield",
  "madvise",
  "dup",
  "dup2",
  "nanosleep",
  "getpid",
  "sendto",
  "recvfrom",
  "sendmsg",
  "recvmsg",
  "clone",
  "fork",
  "vfork",
  "execve",
  "exit",
  "wait4",
  "kill",
  "fcntl",
  "getdents",
  "getcwd",
  "getuid",
  "getgid",
  "geteuid",
  "getegid",
  "getppid",
  "gettid",
  "futex",
  "epoll_wait",
  "epoll_ctl",
  "openat",
  "newfstatat",
  "clock_gettime",
  "clock_nanosleep",
  "exit_group",
  "set_robust_list",
  "rseq",
  "getrandom",
  "statx",
  "prlimit64",
  "pipe2",
  "epoll_pwait",
  "epoll_pwait2",
  "getdents64",
  "unlinkat",
  "unlink",
  "faccessat",
  "faccessat2",
  "readlink",
  "readlinkat",
  "sysinfo",
  "uname",
  "times",
  "getrusage",
  "clone3",
  "close_range",
  "io_uring_enter",
  "ppoll",
  "pselect6",
  "accept4",
  "connect",
  "socket",
  "setsockopt",
  "getsockopt",
  "sched_getaffinity",
  "arch_prctl",
  "set_tid_address",
  "timerfd_settime",
  "eventfd2",
  "wait4",
  "waitid",
  "tgkill",
  "sigaltstack",
]);

/** `n` small valid policies, each on its own rarely used syscall, filtered by a binary. */
function smallPolicies(n: number): { name: string; yaml: string }[] {
  const out: { name: string; yaml: string }[] = [];
  const candidates = [...X86_64_SYSCALLS].reverse().map(([name]) => name).filter((name) => {
    if (HOT.has(name)) return false;
    try {
      Deno.statSync(`/sys/kernel/tracing/events/syscalls/sys_enter_${name}`);
      return true;
    } catch {
      return false;
    }
  });
  for (const syscall of candidates.slice(0, n)) {
    const name = `bench-${String(out.length + 1).padStart(3, "0")}-${syscall.replaceAll("_", "-")}`;
    out.push({
      name,
      yaml: `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
  kprobes:
    - call: sys_${syscall}
      syscall: true
      message: "${syscall} by the bench binary"
      selectors:
        - matchBinaries:
            - operator: In
              values: ["/nonexistent/vigil-bench-${out.length + 1}"]
`,
    });
  }
  if (out.length < n) throw new Error(`only ${out.length} syscall tracepoints for ${n} policies`);
  return out;
}

interface ScrapeStats {
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  bytes: number;
  series: number;
}

async function scrapeLatency(api: Api, count: number): Promise<ScrapeStats> {
  for (let i = 0; i < 5; i++) await api.get("/metrics");
  const times: number[] = [];
  let text = "";
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const r = await api.get("/metrics");
    times.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
    text = r.text;
  }
  return {
    medianMs: median(times),
    p95Ms: quantile(times, 0.95),
    maxMs: Math.max(...times),
    bytes: new TextEncoder().encode(text).length,
    series: text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length,
  };
}

/**
 * Agent CPU per scrape: `count` back-to-back scrapes, minus what the agent used idle over the
 * same time (measured just before). This is the time a scrape takes from the agent, whose event
 * loop also turns ring records into export lines: at saturation, scraping `n` times a second
 * costs `n` × this of one CPU second of event processing.
 */
async function scrapeCpu(
  api: Api,
  pid: number,
  count: number,
): Promise<{ allMs: number; mainMs: number }> {
  await sleep(500);
  const i0 = [cpuNs(pid), cpuNs(pid, true)];
  const it = performance.now();
  await sleep(2000);
  const idleMs = performance.now() - it;
  const idle = [(cpuNs(pid) - i0[0]!) / idleMs, (cpuNs(pid, true) - i0[1]!) / idleMs];
  const c0 = [cpuNs(pid), cpuNs(pid, true)];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await api.get("/metrics");
  const elapsed = performance.now() - t0;
  const per = (now: number, i: number) => (now - c0[i]! - idle[i]! * elapsed) / count / 1e6;
  return { allMs: per(cpuNs(pid), 0), mainMs: per(cpuNs(pid, true), 1) };
}

interface Run {
  scraped: boolean;
  rate: number;
  cpuNsPerEvent: number;
  scrapes: number;
  scrapeMs: number[];
  lost: number;
}

interface RunContext {
  readonly api: Api;
  readonly pid: number;
  readonly prefix: string;
  readonly events: number;
}

const counted = async (api: Api) =>
  (await api.metric("vigil_events_total", '{type="policy",policy="bench-throughput"}')) ?? 0;
const lost = async (api: Api) => (await api.metric("vigil_ringbuf_lost_total")) ?? 0;

/**
 * One throughput run: `events` unpaced calls; events/s from the generator's start until all are
 * counted in `vigil_events_total` (or the count stops moving), with or without a 10/s scraper.
 */
async function throughputRun(ctx: RunContext, scraped: boolean): Promise<Run> {
  const { api, pid } = ctx;
  const before = await counted(api);
  const lost0 = await lost(api);
  await sleep(300);
  const cpu0 = cpuNs(pid);
  const t0 = performance.now();
  let scraping = scraped;
  const scrapeMs: number[] = [];
  const scraper = (async () => {
    let next = performance.now();
    while (scraping) {
      const s0 = performance.now();
      const r = await api.get("/metrics");
      if (r.status !== 200) throw new Error(`/metrics ${r.status}`);
      scrapeMs.push(performance.now() - s0);
      next += 100;
      await sleep(Math.max(0, next - performance.now()));
    }
  })();
  const gen = startGenerator(ctx.prefix, 0, { count: ctx.events });
  const { last } = await gen.done();
  // Until every event is counted (or the count stops moving: the ring dropped some).
  let count = 0;
  let stalledSince = performance.now();
  for (;;) {
    const c = (await counted(api)) - before;
    if (c >= last) {
      count = c;
      break;
    }
    if (c > count) stalledSince = performance.now();
    count = c;
    if (performance.now() - stalledSince > 1000) break;
    await sleep(5);
  }
  const seconds = (performance.now() - t0) / 1000;
  scraping = false;
  await scraper;
  const cpu = cpuNs(pid) - cpu0;
  return {
    scraped,
    rate: count / seconds,
    cpuNsPerEvent: cpu / count,
    scrapes: scrapeMs.length,
    scrapeMs,
    lost: (await lost(api)) - lost0,
  };
}

// ---------------------------------------------------------------------------------------------

const opts = flags();
if (Deno.uid() !== 0) {
  print("api_bench: needs root (the agent loads BPF programs)");
  Deno.exit(1);
}
print(`vigil operator API benchmarks — ${hostLine()}`);
print();

// 1. Replace latency, and the scrape latency with one policy on the same agent.
const replaceDir = await Deno.makeTempDir({ prefix: "vigil-bench-replace-" });
const prefix = seqPrefix();
const version = (i: number) => seqPolicy("bench-replace", prefix, `version ${i}`);
await Deno.writeTextFile(`${replaceDir}/bench-replace.yaml`, version(0));
const firstActive: number[] = [];
const firstRtt: number[] = [];
const active: number[] = [];
const rtt: number[] = [];
let replaceGaps = -1;
let replaceCalls = 0;
let scrape1: ScrapeStats;
let scrapeCpu1 = { allMs: 0, mainMs: 0 };
{
  await using agent = await startAgentProcess({
    args: ["--policy-dir", replaceDir, "--export-max-size", "0"],
  });
  using api = await Api.of(agent);
  scrape1 = await scrapeLatency(api, opts.scrapes!);
  scrapeCpu1 = await scrapeCpu(api, agent.pid, 300);
  const events = new SeqCollector(agent.exportPath, prefix);
  const gen = startGenerator(prefix, 5000);
  await events.waitFor((e) => e.message === "version 0", 100);
  for (let i = 1; i <= opts.replacements!; i++) {
    const t0 = wallMs();
    const r = await api.postPolicy(version(i));
    const t1 = wallMs();
    if (r.status !== 200) throw new Error(`replace ${i}: ${r.status} ${r.text}`);
    const [first] = (await events.waitFor((e) => e.message === `version ${i}`, 1))
      .sort((a, b) => a.seq - b.seq);
    (i === 1 ? firstActive : active).push(first!.timeMs - t0);
    (i === 1 ? firstRtt : rtt).push(t1 - t0);
    await sleep(100);
  }
  const { last } = await gen.stop();
  await events.waitFor((e) => e.seq === last, 1);
  replaceCalls = last;
  replaceGaps = missing(events.poll().map((e) => e.seq), last).length;
}
await Deno.remove(replaceDir, { recursive: true });

print(
  `replace: ${opts.replacements} replacements, generator 5000 calls/s, ` +
    `${replaceCalls} calls, ${replaceGaps} sequence gaps`,
);

// 2 and 3. 100 policies: scrape latency; then throughput with and without scraping.
const manyDir = await Deno.makeTempDir({ prefix: "vigil-bench-many-" });
const many = smallPolicies(100);
for (const p of many) await Deno.writeTextFile(`${manyDir}/${p.name}.yaml`, p.yaml);
let scrape100: ScrapeStats;
let scrapeCpu100 = { allMs: 0, mainMs: 0 };
let startupMs = 0;
const runs: Run[] = [];
{
  const t0 = performance.now();
  await using agent = await startAgentProcess({
    args: ["--policy-dir", manyDir, "--export", "/dev/null"],
    readyTimeoutMs: 120_000,
  });
  startupMs = performance.now() - t0;
  using api = await Api.of(agent);
  const listed = (await api.get("/policies")).json.policies as { state: string }[];
  const enabled = listed.filter((p) => p.state === "enabled").length;
  if (enabled !== 100) throw new Error(`${enabled} of 100 policies enabled`);
  scrape100 = await scrapeLatency(api, opts.scrapes!);
  scrapeCpu100 = await scrapeCpu(api, agent.pid, 300);
  print(
    `100 policies: ready ${(startupMs / 1000).toFixed(1)} s after spawn; ` +
      `/metrics ${scrape100.series} series, ${(scrape100.bytes / 1024).toFixed(0)} KiB`,
  );

  const tputPrefix = seqPrefix();
  const added = await api.postPolicy(seqPolicy("bench-throughput", tputPrefix, "throughput"));
  if (added.status !== 200) throw new Error(`add: ${added.text}`);
  const ctx = { api, pid: agent.pid, prefix: tputPrefix, events: opts.events! };
  await throughputRun(ctx, false); // warm-up
  for (let round = 0; round < opts.rounds!; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const scraped of order) {
      const r = await throughputRun(ctx, scraped);
      runs.push(r);
      print(
        `  round ${round + 1} ${scraped ? "scraped 10/s" : "not scraped "}: ` +
          `${(r.rate / 1000).toFixed(1)} k events/s, ${(r.cpuNsPerEvent / 1000).toFixed(2)} µs ` +
          `agent CPU/event, ${r.lost} lost` +
          (scraped ? `, ${r.scrapes} scrapes (median ${median(r.scrapeMs).toFixed(1)} ms)` : ""),
      );
    }
  }
}
await Deno.remove(manyDir, { recursive: true });

const plain = runs.filter((r) => !r.scraped);
const scraped = runs.filter((r) => r.scraped);
const ratePlain = median(plain.map((r) => r.rate));
const rateScraped = median(scraped.map((r) => r.rate));
const cpuPlain = median(plain.map((r) => r.cpuNsPerEvent));
const cpuScraped = median(scraped.map((r) => r.cpuNsPerEvent));
const pct = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;
const ms = (x: number) => `${x.toFixed(1)} ms`;
const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;

print();
print("| Measure | Target | Measured |");
print("| --- | --- | --- |");
print(
  `| Replace, request → first event of the new version (first replacement: loads a 2nd program instance) | — | ${
    ms(firstActive[0]!)
  } (round trip ${ms(firstRtt[0]!)}) |`,
);
print(
  `| Replace, request → first event of the new version (next ${active.length}) | — | median ${
    ms(median(active))
  }, p95 ${ms(quantile(active, 0.95))}, max ${ms(Math.max(...active))} |`,
);
print(
  `| Replace, HTTP round trip (next ${rtt.length}) | — | median ${ms(median(rtt))}, p95 ${
    ms(quantile(rtt, 0.95))
  }, max ${ms(Math.max(...rtt))} |`,
);
print(`| Replace, sequence gaps over ${replaceCalls} calls | 0 | ${replaceGaps} |`);
print(
  `| /metrics scrape, 1 policy (${scrape1.series} series, ${
    (scrape1.bytes / 1024).toFixed(0)
  } KiB) | — | median ${ms(scrape1.medianMs)}, p95 ${ms(scrape1.p95Ms)}, max ${
    ms(scrape1.maxMs)
  } |`,
);
print(
  `| /metrics scrape, 100 policies (${scrape100.series} series, ${
    (scrape100.bytes / 1024).toFixed(0)
  } KiB) | — | median ${ms(scrape100.medianMs)}, p95 ${ms(scrape100.p95Ms)}, max ${
    ms(scrape100.maxMs)
  } |`,
);
print(
  `| Agent CPU per scrape, 1 / 100 policies: all threads (main thread) (300 scrapes, idle subtracted) | — | ${
    scrapeCpu1.allMs.toFixed(2)
  } (${scrapeCpu1.mainMs.toFixed(2)}) / ${scrapeCpu100.allMs.toFixed(2)} (${
    scrapeCpu100.mainMs.toFixed(2)
  }) ms |`,
);
print(
  `| Capacity cost of 10 scrapes/s for a CPU-bound agent = 10 × main-thread CPU per scrape (all threads), 1 / 100 policies | < 2 % | ${
    scrapeCpu1.mainMs.toFixed(2)
  } % (${scrapeCpu1.allMs.toFixed(2)} %) / ${scrapeCpu100.mainMs.toFixed(2)} % (${
    scrapeCpu100.allMs.toFixed(2)
  } %) |`,
);
print(
  `| Events/s end to end, 101 policies, not scraped / scraped 10/s (median of ${plain.length}; range) | scraped ≥ 98 % | ${
    (ratePlain / 1000).toFixed(1)
  } k (${range(plain.map((r) => r.rate / 1000))}) / ${(rateScraped / 1000).toFixed(1)} k (${
    range(scraped.map((r) => r.rate / 1000))
  }): ${pct((rateScraped / ratePlain - 1) * 100)} |`,
);
print(
  `| Agent CPU per event, not scraped / scraped 10/s (median of ${plain.length}) | — | ${
    (cpuPlain / 1000).toFixed(2)
  } / ${(cpuScraped / 1000).toFixed(2)} µs (${pct((cpuScraped / cpuPlain - 1) * 100)}) |`,
);
print(
  `| Scrape latency under load (${
    scraped.reduce((n, r) => n + r.scrapes, 0)
  } scrapes) | — | median ${ms(median(scraped.flatMap((r) => r.scrapeMs)))}, p95 ${
    ms(quantile(scraped.flatMap((r) => r.scrapeMs), 0.95))
  } |`,
);
print(`| Ring buffer drops in the throughput runs | 0 | ${runs.reduce((n, r) => n + r.lost, 0)} |`);
