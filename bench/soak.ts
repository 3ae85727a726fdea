/**
 * Soak: the real agent (`main.ts run`, a child process) under steady, modest load for a long time,
 * printing its resource use over time and the slopes after warm-up.
 *
 * Load, all at once:
 * - exec churn: `bench/c/exec_storm.c` runs `--exec-rate` fork+exec+wait of `/bin/true` each second;
 * - file churn under a policy: `bench/c/file_churn.c` creates and unlinks `--file-rate` files each
 *   second while `policies/file_deletion.yaml` (3 hooks) exports every deletion;
 * - a policy replace every `--replace-every` seconds: `POST /policies` with the same policy, its
 *   text changed by a comment, so the agent re-plans and re-attaches every hook;
 * - `/metrics` scraped every second.
 *
 * Sampled every `--sample-every` seconds: RSS (VmRSS, and RssAnon without the binary's file
 * pages, which the host's page cache moves), open fds, and the BPF links, maps and
 * programs the agent holds (the targets of its fd symlinks: `anon_inode:bpf_link`, …). A sample is
 * *consistent* only if no fd vanished while the directory was read; otherwise it is retried and
 * counted as torn (see "Links" below). At the end: the slopes (least squares) after warm-up, per
 * hour, against the targets (RSS ≤ 2 MB/h; fds, links and maps flat), and links against the plan.
 *
 * Links: "what the plan says" is the agent's own links before any policy (its process programs)
 * plus one per hook of the policy's plan (from the `POST` answer). Between replaces a consistent
 * sample must show exactly that. While a replace runs it may show more (the new version is
 * attached before the old one is detached), never fewer. Samples are also taken every 20 ms
 * during each replace, and, with `--naive-links`, counted the way a naive watcher would (read the
 * fd list, then inspect each fd, no retry; or `bpftool link` filtered by the agent's pid), to show
 * what such a count reports during a replace.
 *
 * Run: `deno run --allow-all bench/soak.ts [--duration 1h] [--warmup 5m]` (root, built tree, a C
 * compiler). Durations take `s`, `m` or `h`. It asserts nothing and exits 0 unless the agent dies.
 *
 * @module
 */
import { compileC, machineLine, parseFlags, print, REPO_ROOT, run, sleep } from "./_lib.ts";

const USAGE = `deno run --allow-all bench/soak.ts [flags]
  --duration D        total run time (default 1h); s, m or h
  --warmup D          samples before this are not used for slopes (default 5m, at most a third)
  --exec-rate N       execs per second (default 40)
  --file-rate N       file create+unlink per second (default 100)
  --replace-every S   seconds between policy replaces (default 10)
  --sample-every S    seconds between samples (default 5)
  --print-every S     seconds between printed sample lines (default 60)
  --naive-links       also count links the naive ways during replaces (fd list without retry; bpftool)
  --agent-v8-flags F  passed to the agent's deno as --v8-flags=F (e.g. --max-old-space-size=96)
  --heap-snapshot     write agent heap snapshots at warm-up and at the end (SIGUSR2 not needed:
                      uses the inspector; slow, for finding leaks only)`;

const flags = parseFlags(Deno.args, {
  duration: "string",
  warmup: "string",
  "exec-rate": "number",
  "file-rate": "number",
  "replace-every": "number",
  "sample-every": "number",
  "print-every": "number",
  "naive-links": "boolean",
  "agent-v8-flags": "string",
  "heap-snapshot": "boolean",
}, USAGE);

/** `90`, `90s`, `10m`, `1h` → seconds. */
function seconds(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([smh]?)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: '${text}' (use e.g. 600, 10m, 1h)`);
  return Number(m[1]) * ({ "": 1, s: 1, m: 60, h: 3600 }[m[2] as "" | "s" | "m" | "h"]);
}

const DURATION_S = seconds((flags.duration as string | undefined) ?? "1h");
const WARMUP_S = Math.min(seconds((flags.warmup as string | undefined) ?? "5m"), DURATION_S / 3);
const EXEC_RATE = (flags["exec-rate"] as number | undefined) ?? 40;
const FILE_RATE = (flags["file-rate"] as number | undefined) ?? 100;
const REPLACE_S = (flags["replace-every"] as number | undefined) ?? 10;
const SAMPLE_S = (flags["sample-every"] as number | undefined) ?? 5;
const PRINT_S = (flags["print-every"] as number | undefined) ?? 60;
const NAIVE = flags["naive-links"] === true;

// --- resource counts of a process -----------------------------------------------------------

interface FdCounts {
  fds: number;
  links: number;
  maps: number;
  progs: number;
}

/** One read of `/proc/<pid>/fd`; `torn` when an fd listed was gone before it was inspected. */
function scanFds(pid: number): FdCounts & { torn: boolean } {
  const out = { fds: 0, links: 0, maps: 0, progs: 0, torn: false };
  const names = [...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => e.name);
  for (const name of names) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      out.torn = true;
      continue;
    }
    out.fds++;
    // The kernel names link fds `bpf_link` and the others `bpf-map`, `bpf-prog`.
    if (target === "anon_inode:bpf_link" || target === "anon_inode:bpf-link") out.links++;
    else if (target === "anon_inode:bpf-map") out.maps++;
    else if (target === "anon_inode:bpf-prog") out.progs++;
  }
  return out;
}

/** Fewest links a torn scan reported: what a watcher without the retry would have printed. */
let tornLinksMin = Infinity;

/** A consistent scan (retried while torn, up to 20 times); `retries` counts the torn ones. */
function countFds(pid: number): FdCounts & { retries: number } {
  for (let retries = 0;; retries++) {
    const s = scanFds(pid);
    if (s.torn) tornLinksMin = Math.min(tornLinksMin, s.links);
    if (!s.torn || retries >= 20) return { ...s, retries };
  }
}

/** Links `bpftool link` lists with the agent's pid among their holders (a naive count). */
async function bpftoolLinks(pid: number): Promise<number | null> {
  try {
    const list = JSON.parse(await run("bpftool", ["-j", "link", "show"])) as {
      pids?: { pid: number }[];
    }[];
    return list.filter((l) => l.pids?.some((p) => p.pid === pid)).length;
  } catch {
    return null;
  }
}

/** VmRSS and RssAnon in KiB. RssAnon leaves out the file pages of the deno binary, which come
 * and go with the host's page cache (other processes' memory pressure), not with the agent. */
function rss(pid: number): { rssKb: number; anonKb: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssKb: kb("VmRSS"), anonKb: kb("RssAnon") };
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The lowest sample of each `window`-second window (time at the window's middle). */
function floorsOf(
  samples: readonly { t: number; kb: number }[],
  window: number,
): { window: number; points: { h: number; mb: number }[] } {
  const points: { h: number; mb: number }[] = [];
  const t0 = samples[0]?.t ?? 0;
  const byWindow = new Map<number, number>();
  for (const s of samples) {
    const w = Math.floor((s.t - t0) / window);
    byWindow.set(w, Math.min(byWindow.get(w) ?? Infinity, s.kb));
  }
  for (const [w, kb] of byWindow) {
    points.push({ h: (t0 + (w + 0.5) * window) / 3600, mb: kb / 1024 });
  }
  // A last window shorter than half the others has too few samples for a floor.
  const lastStart = t0 + (points.length - 1) * window;
  if (points.length > 2 && (samples.at(-1)?.t ?? 0) - lastStart < window / 2) points.pop();
  return { window, points };
}

// --- the agent -------------------------------------------------------------------------------

const dir = await Deno.makeTempDir({ prefix: "vigil-soak-" });
const churnDir = `${dir}/churn`;
const policyDir = `${dir}/policies`;
await Deno.mkdir(churnDir);
await Deno.mkdir(policyDir);
const socket = `${dir}/api.sock`;
const tokenFile = `${dir}/api-token`;
using c = await compileC(["exec_storm", "file_churn"]);

const v8Flags = flags["agent-v8-flags"] as string | undefined;
const inspect = flags["heap-snapshot"] === true;
const agent = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-all",
    ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
    ...(inspect ? [`--inspect=127.0.0.1:${20000 + Math.floor(Math.random() * 20000)}`] : []),
    `${REPO_ROOT}main.ts`,
    "run",
    // The export path runs in full, and an hour of events does not fill the disk.
    "--export",
    "/dev/null",
    "--listen",
    `unix:${socket}`,
    "--api-token-file",
    tokenFile,
    "--policy-dir",
    policyDir,
    "--no-metadata",
  ],
  stdout: "null",
  stderr: "piped",
}).spawn();
const agentLog: string[] = [];
let inspectorUrl: string | undefined;
let ready = false;
const logDone = (async () => {
  let partial = "";
  for await (const chunk of agent.stderr.pipeThrough(new TextDecoderStream())) {
    partial += chunk;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.includes('"msg":"ready"')) ready = true;
      const ws = /(ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(line);
      if (ws) inspectorUrl = ws[1];
      // Keep the last lines only: an hour of warnings must not grow this process.
      agentLog.push(line);
      if (agentLog.length > 200) agentLog.shift();
    }
  }
})();
let agentExited = false;
const agentStatus = agent.status.then((s) => {
  agentExited = true;
  return s;
});
const startDeadline = Date.now() + 60_000;
while (!ready) {
  if (agentExited || Date.now() > startDeadline) {
    if (!agentExited) agent.kill("SIGKILL");
    await agentStatus;
    await logDone;
    throw new Error(`agent did not become ready:\n${agentLog.join("\n")}`);
  }
  await sleep(50);
}
const pid = agent.pid;
if (inspect) print(`agent inspector: ${inspectorUrl ?? "(no URL in the log)"}`);

const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
const token = (await Deno.readTextFile(tokenFile)).trim();
async function api(method: string, path: string, body?: string): Promise<Response> {
  return await fetch(`http://vigil${path}`, {
    method,
    client,
    headers: { authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(30_000),
  });
}

// --- baseline and the policy -----------------------------------------------------------------

const baseline = countFds(pid);
const policyText = await Deno.readTextFile(`${REPO_ROOT}policies/file_deletion.yaml`);
let replaces = 0;
let replaceFailures = 0;
let replaceMsMax = 0;
const replaceMs: number[] = [];
async function postPolicy(): Promise<number> {
  const t0 = performance.now();
  const res = await api("POST", "/policies", `${policyText}\n# soak version ${replaces}\n`);
  const body = await res.json();
  const ms = performance.now() - t0;
  if (!res.ok) throw new Error(`POST /policies: ${res.status} ${JSON.stringify(body)}`);
  replaceMs.push(ms);
  if (replaceMs.length > 1000) replaceMs.shift();
  replaceMsMax = Math.max(replaceMsMax, ms);
  const hooks = body.policy?.hooks as { attached: boolean }[] | undefined;
  if (!hooks) throw new Error(`POST /policies: no hooks in ${JSON.stringify(body)}`);
  return hooks.filter((h) => h.attached).length;
}
const planHooks = await postPolicy();
const expectedLinks = baseline.links + planHooks;

print(`vigil bench: soak (${machineLine()})`);
print(
  `duration ${DURATION_S} s, warm-up ${WARMUP_S} s; ${EXEC_RATE} execs/s, ${FILE_RATE} ` +
    `file create+unlink/s under file-deletion, a replace every ${REPLACE_S} s, /metrics every 1 s`,
);
print(
  `agent pid ${pid}; before any policy: ${baseline.links} links, ${baseline.maps} maps, ` +
    `${baseline.progs} progs, ${baseline.fds} fds; plan of file-deletion: ${planHooks} hooks → ` +
    `${expectedLinks} links expected`,
);

// --- load ------------------------------------------------------------------------------------

let stopping = false;
const loops: Promise<void>[] = [];
/** Runs `f` every `periodMs` (from start to start, skipping beats it overran). */
function every(periodMs: number, f: () => Promise<void>): void {
  loops.push((async () => {
    let next = performance.now();
    while (!stopping) {
      await f().catch((err) => {
        if (!stopping) print(`  ! ${String(err).split("\n")[0]}`);
      });
      next += periodMs;
      const now = performance.now();
      if (next < now) next = now;
      await sleep(next - now);
    }
  })());
}

every(1000, async () => {
  await new Deno.Command(c.path("exec_storm"), {
    args: [String(EXEC_RATE)],
    stdout: "null",
    stderr: "null",
  }).output();
});
// file_churn adds 10 % warm-up iterations; ask for 10/11 of the rate. Unpinned (-1).
every(1000, async () => {
  await new Deno.Command(c.path("file_churn"), {
    args: [String(Math.max(1, Math.round(FILE_RATE / 1.1))), churnDir, "-1"],
    stdout: "null",
    stderr: "null",
  }).output();
});
let scrapes = 0;
let scrapeBytes = 0;
every(1000, async () => {
  const res = await api("GET", "/metrics");
  scrapeBytes = (await res.text()).length;
  scrapes++;
});

// During a replace: dense consistent samples (and naive ones), never fewer links than planned.
let inReplace = false;
let replaceMinLinks = Infinity;
let replaceMaxLinks = 0;
let naiveFdMin = Infinity;
let naiveBpftoolMin = Infinity;
let naiveSamples = 0;
let tornSamples = 0;
every(REPLACE_S * 1000, async () => {
  replaces++;
  inReplace = true;
  const dense = (async () => {
    while (inReplace) {
      const s = countFds(pid);
      tornSamples += s.retries;
      replaceMinLinks = Math.min(replaceMinLinks, s.links);
      replaceMaxLinks = Math.max(replaceMaxLinks, s.links);
      if (NAIVE) {
        const naive = scanFds(pid);
        naiveFdMin = Math.min(naiveFdMin, naive.links);
        naiveSamples++;
      }
      await sleep(20);
    }
  })();
  const naiveTool = NAIVE
    ? (async () => {
      while (inReplace) {
        const n = await bpftoolLinks(pid);
        if (n !== null) naiveBpftoolMin = Math.min(naiveBpftoolMin, n);
      }
    })()
    : Promise.resolve();
  try {
    const hooks = await postPolicy();
    if (hooks !== planHooks) {
      replaceFailures++;
      print(`  ! replace ${replaces}: ${hooks} hooks attached, the plan has ${planHooks}`);
    }
  } catch (err) {
    replaceFailures++;
    throw err;
  } finally {
    // A little after the answer, so a detach that lagged the answer would be seen.
    await sleep(60);
    inReplace = false;
    await dense;
    await naiveTool;
  }
});

// --- samples ---------------------------------------------------------------------------------

interface Sample extends FdCounts {
  t: number;
  rssKb: number;
  anonKb: number;
}
const samples: Sample[] = [];
let wrongLinks = 0;
const start = performance.now();
let lastPrint = -Infinity;
const header = "     t  RSS MB  anon MB   fds  links  maps  progs  replaces  scrapes";
print(header);
every(SAMPLE_S * 1000, () => {
  const t = (performance.now() - start) / 1000;
  // Between replaces only: the replace loop watches its own window.
  if (inReplace) return Promise.resolve();
  const s = countFds(pid);
  tornSamples += s.retries;
  const sample = { t, ...rss(pid), ...s };
  samples.push(sample);
  if (s.links !== expectedLinks) {
    wrongLinks++;
    print(
      `  ! ${t.toFixed(0)} s: ${s.links} links between replaces, the plan says ${expectedLinks}`,
    );
  }
  if (t - lastPrint >= PRINT_S) {
    lastPrint = t;
    print(
      `${t.toFixed(0).padStart(6)}  ${(sample.rssKb / 1024).toFixed(1).padStart(6)}  ${
        (sample.anonKb / 1024).toFixed(1).padStart(7)
      }  ` +
        `${String(s.fds).padStart(4)}  ${String(s.links).padStart(5)}  ${
          String(s.maps).padStart(4)
        }  ${String(s.progs).padStart(5)}  ${String(replaces).padStart(8)}  ${
          String(scrapes).padStart(7)
        }`,
    );
  }
  return Promise.resolve();
});

// --- heap snapshots through the inspector (optional) ------------------------------------------

async function heapSnapshot(label: string): Promise<void> {
  if (!inspectorUrl) {
    print(`  ! no inspector URL in the agent's log; no heap snapshot ${label}`);
    return;
  }
  const ws = new WebSocket(inspectorUrl);
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = j;
  });
  const path = `${dir}/../vigil-soak-${label}-${Date.now()}.heapsnapshot`;
  const file = await Deno.open(path, { create: true, write: true, truncate: true });
  const enc = new TextEncoder();
  let id = 0;
  const call = (method: string) =>
    new Promise<void>((resolve) => {
      const me = ++id;
      const prev = ws.onmessage;
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data as string);
        if (msg.method === "HeapProfiler.addHeapSnapshotChunk") {
          file.writeSync(enc.encode(msg.params.chunk));
        } else if (msg.id === me) {
          ws.onmessage = prev;
          resolve();
        }
      };
      ws.send(JSON.stringify({ id: me, method }));
    });
  await call("HeapProfiler.collectGarbage");
  await call("HeapProfiler.takeHeapSnapshot");
  file.close();
  ws.close();
  print(`  heap snapshot (${label}): ${path}`);
}

// --- run, stop, report -----------------------------------------------------------------------

const deadline = start + DURATION_S * 1000;
let snappedWarm = false;
while (performance.now() < deadline && !agentExited) {
  await sleep(1000);
  if (inspect && !snappedWarm && performance.now() - start >= WARMUP_S * 1000) {
    snappedWarm = true;
    await heapSnapshot("warm");
  }
}
if (inspect && !agentExited) await heapSnapshot("end");
stopping = true;
await Promise.all(loops);
const elapsed = (performance.now() - start) / 1000;
const metrics = agentExited ? "" : await (await api("GET", "/metrics")).text();
client.close();
if (!agentExited) agent.kill("SIGTERM");
const status = await agentStatus;
await logDone;
await Deno.remove(dir, { recursive: true }).catch(() => {});

const metric = (name: string) =>
  metrics.split("\n").filter((l) => l.startsWith(name)).map((l) => Number(l.split(" ").at(-1)))
    .reduce((a, b) => a + b, 0);

print();
print(`ran ${elapsed.toFixed(0)} s (${(elapsed / 60).toFixed(1)} min); agent exit ${status.code}`);
if (agentExited && elapsed < DURATION_S - 2) {
  print(`AGENT DIED after ${elapsed.toFixed(0)} s; last log lines:\n${agentLog.join("\n")}`);
}
const warm = samples.filter((s) => s.t >= WARMUP_S);
const hours = warm.map((s) => s.t / 3600);
const first = warm[0];
const last = warm.at(-1);
if (first && last) {
  print(
    `after warm-up (${warm.length} samples, ${first.t.toFixed(0)}–${last.t.toFixed(0)} s):`,
  );
  // Memory swings by tens of MB between major GCs; the floor (lowest sample of each window) is
  // what stays retained, so its slope is the leak rate.
  const window = Math.max(60, Math.min(300, (last.t - first.t) / 6));
  for (const [label, key] of [["RSS", "rssKb"], ["anon", "anonKb"]] as const) {
    const mb = warm.map((s) => s[key] / 1024);
    const floors = floorsOf(warm.map((s) => ({ t: s.t, kb: s[key] })), window);
    print(
      `  ${label.padEnd(5)} ${mb[0]!.toFixed(1)} → ${mb.at(-1)!.toFixed(1)} MB, min ${
        Math.min(...mb).toFixed(1)
      }, max ${Math.max(...mb).toFixed(1)}; slope ${slope(hours, mb).toFixed(2)} MB/h`,
    );
    print(
      `        floor (min per ${window.toFixed(0)} s): ${
        floors.points.map((p) => p.mb.toFixed(1)).join(" ")
      } MB; slope ${
        slope(floors.points.map((p) => p.h), floors.points.map((p) => p.mb)).toFixed(2)
      } MB/h (target ≤ 2)`,
    );
  }
  for (const key of ["fds", "links", "maps", "progs"] as const) {
    const ys = warm.map((s) => s[key]);
    print(
      `  ${key.padEnd(5)} ${first[key]} → ${last[key]}, min ${Math.min(...ys)}, max ${
        Math.max(...ys)
      }; slope ${slope(hours, ys).toFixed(2)}/h`,
    );
  }
}
print(
  `RSS over the whole run: ${((samples[0]?.rssKb ?? 0) / 1024).toFixed(1)} → ${
    ((samples.at(-1)?.rssKb ?? 0) / 1024).toFixed(1)
  } MB`,
);
print(
  `links: plan ${expectedLinks}; between replaces ${
    samples.length - wrongLinks
  }/${samples.length} ` +
    `samples equal to the plan; during replaces min ${replaceMinLinks}, max ${replaceMaxLinks} ` +
    `(make-before-break: up to ${
      expectedLinks + planHooks
    }); torn fd scans retried: ${tornSamples}` +
    (tornSamples > 0 ? `, fewest links a torn scan showed: ${tornLinksMin}` : ""),
);
if (NAIVE) {
  print(
    `naive link counts during replaces: fd list without retry min ${naiveFdMin} ` +
      `(${naiveSamples} samples); bpftool by pid min ${
        naiveBpftoolMin === Infinity ? "n/a" : naiveBpftoolMin
      }`,
  );
}
const sortedMs = [...replaceMs].sort((a, b) => a - b);
print(
  `replaces: ${replaces} (${replaceFailures} failed), answer median ${
    (sortedMs[Math.floor(sortedMs.length / 2)] ?? 0).toFixed(0)
  } ms, max ${replaceMsMax.toFixed(0)} ms; /metrics scrapes: ${scrapes} (${scrapeBytes} B)`,
);
if (metrics) {
  print(
    `agent: events ${metric("vigil_events_total")}, kernel drops ${
      metric("vigil_kernel_drops_total")
    }, ring lost ${metric("vigil_ringbuf_lost_total")}, decode errors ${
      metric("vigil_decode_errors_total")
    }, process cache ${metric("vigil_process_cache_size")}`,
  );
}
Deno.exit(agentExited && elapsed < DURATION_S - 2 ? 1 : 0);
