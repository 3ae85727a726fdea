/**
 * Helpers shared by the benchmarks: printing, medians, flags, the C helpers (compiled at start),
 * starting and stopping the agent as a child process, RSS, tracefs, and the bench BPF object.
 *
 * @module
 */
import { BpfObject, type LoadOptions } from "../src/bpf/object.ts";
import type { BpfRuntime } from "../src/bpf/runtime.ts";

const encoder = new TextEncoder();

/** Writes one line to stdout (the benchmarks' only output channel). */
export function print(line = ""): void {
  Deno.stdout.writeSync(encoder.encode(line + "\n"));
}

/** Median of a non-empty list (upper median for even lengths). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** `n` with `digits` decimals, padded to `width`. */
export function fmt(n: number, digits = 2, width = 0): string {
  return n.toFixed(digits).padStart(width);
}

/** Millions with 2 decimals, e.g. "1.52 M". */
export function mega(n: number): string {
  return `${(n / 1e6).toFixed(2)} M`;
}

/** Parses `--name value` / `--name=value` flags and boolean `--name`; unknown flags throw. */
export function parseFlags(
  args: readonly string[],
  spec: Readonly<Record<string, "number" | "string" | "boolean">>,
  usage: string,
): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-h" || arg === "--help") {
      print(usage);
      Deno.exit(0);
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    const kind = m ? spec[m[1]!] : undefined;
    if (!m || !kind) throw new Error(`unknown argument '${arg}'\n${usage}`);
    const name = m[1]!;
    if (kind === "boolean") {
      out[name] = m[2] === undefined ? true : m[2] !== "false";
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new Error(`--${name} needs a value\n${usage}`);
    if (kind === "number") {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got '${value}'`);
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** The repository root (bench/..). */
export const REPO_ROOT: string = new URL("..", import.meta.url).pathname;

/** Number of online CPUs. */
export function onlineCpus(): number {
  return navigator.hardwareConcurrency;
}

/** Runs a command and returns its stdout; throws with stderr when it fails. */
export async function run(cmd: string, args: readonly string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args: [...args], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return text;
}

/** Parses `a=1 b=2` into numbers. */
export function keyValues(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/([a-z_]+)=(-?[0-9.]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

/** Compiled C helpers in a temp dir; `close()` removes it. */
export interface CHelpers extends Disposable {
  readonly dir: string;
  /** Path of the executable built from `bench/c/<name>.c`. */
  path(name: string): string;
  close(): void;
}

/** Compiles `bench/c/<name>.c` for each name with `cc -O2` into a temp dir. */
export async function compileC(names: readonly string[]): Promise<CHelpers> {
  const cc = Deno.env.get("CC") ?? "cc";
  try {
    await new Deno.Command(cc, { args: ["--version"], stdout: "null", stderr: "null" }).output();
  } catch {
    throw new Error(
      `no C compiler: '${cc}' was not found. The benchmarks build small C drivers from bench/c/ ` +
        `at start; install one (apt-get install gcc) or point CC at it.`,
    );
  }
  const dir = Deno.makeTempDirSync({ prefix: "vigil_bench_c_" });
  const close = () => Deno.removeSync(dir, { recursive: true });
  try {
    for (const name of names) {
      await run(cc, ["-O2", "-Wall", "-o", `${dir}/${name}`, `${REPO_ROOT}bench/c/${name}.c`]);
    }
  } catch (err) {
    close();
    throw err;
  }
  return { dir, path: (name) => `${dir}/${name}`, close, [Symbol.dispose]: close };
}

/** VmRSS and VmHWM of a process, in KiB. */
export function readRss(pid: number): { rssKb: number; hwmKb: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM") };
}

/** What the agent printed at start and stop. */
export interface AgentStart {
  readonly pid: number;
  /** `startup_ms` of the ready line (the agent's own measure). */
  readonly startupMs: number;
  /** Wall time from spawn to reading the ready line, in ms. */
  readonly spawnToReadyMs: number;
}

/** The `stopped` log line's content. */
export interface AgentStopped {
  readonly events: Record<string, number>;
  readonly kernelDrops: number;
  readonly decodeErrors: number;
  readonly exitCode: number;
}

/**
 * Flags the benchmarks give `vigil run` besides `--export`: the agent measured here tracks
 * processes only, so no TracingPolicy files (the examples in policies/ hook syscall tracepoints, which is a
 * different cost) and no API listener (a second agent on the host would hold its port). Set
 * VIGIL_BENCH_AGENT_ARGS (space-separated; "" for none) to run the agent differently.
 */
export const AGENT_ARGS: readonly string[] = (() => {
  const env = Deno.env.get("VIGIL_BENCH_AGENT_ARGS");
  if (env !== undefined) return env.split(" ").filter((a) => a !== "");
  return ["--policy-dir", "", "--listen", ""];
})();

/** `AGENT_ARGS` as a shell-ish string for headers. */
export function agentArgsText(args: readonly string[] = AGENT_ARGS): string {
  return args.map((a) => (a === "" ? '""' : a)).join(" ");
}

/** A running agent child process (`deno run --allow-all main.ts run --export FILE ...`). */
export class AgentProcess {
  readonly #child: Deno.ChildProcess;
  readonly #lines: string[] = [];
  readonly #pump: Promise<void>;
  #onLine: (() => void) | null = null;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#pump = this.#readStderr();
  }

  /** Spawns the agent exporting to `exportPath` and waits for its ready line (30 s by default). */
  static async start(
    exportPath: string,
    extraArgs: readonly string[] = AGENT_ARGS,
    readyTimeoutMs = 30_000,
  ): Promise<{ agent: AgentProcess; start: AgentStart }> {
    const t0 = performance.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        `${REPO_ROOT}main.ts`,
        "run",
        "--export",
        exportPath,
        ...extraArgs,
      ],
      cwd: REPO_ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const agent = new AgentProcess(child);
    // The kernel lab's emulation (VIGIL_TEST_TIME_SCALE) makes start-up that much slower.
    const scale = Number(Deno.env.get("VIGIL_TEST_TIME_SCALE") ?? "1") || 1;
    const ready = await agent.#waitFor("ready", readyTimeoutMs * scale);
    const spawnToReadyMs = performance.now() - t0;
    return {
      agent,
      start: { pid: child.pid, startupMs: Number(ready["startup_ms"]), spawnToReadyMs },
    };
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Every stderr line so far. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  async #readStderr(): Promise<void> {
    let rest = "";
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        this.#lines.push(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
      this.#onLine?.();
    }
    if (rest !== "") this.#lines.push(rest);
    this.#onLine?.();
  }

  #find(msg: string): Record<string, unknown> | undefined {
    for (const line of this.#lines) {
      if (!line.includes(`"msg":"${msg}"`)) continue;
      try {
        return JSON.parse(line);
      } catch { /* not a log line */ }
    }
    return undefined;
  }

  async #waitFor(msg: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = performance.now() + timeoutMs;
    let ended = false;
    this.#pump.then(() => ended = true);
    for (;;) {
      const found = this.#find(msg);
      if (found) return found;
      if (ended || performance.now() > deadline) {
        try {
          this.#child.kill("SIGKILL");
        } catch { /* already gone */ }
        throw new Error(
          `agent: no "${msg}" line (${ended ? "it exited" : "timeout"}); stderr:\n` +
            this.#lines.slice(-10).join("\n"),
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 20);
        this.#onLine = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#onLine = null;
    }
  }

  /** Sends SIGTERM and waits for the exit; returns what the `stopped` line says. */
  async stop(): Promise<AgentStopped> {
    this.#child.kill("SIGTERM");
    const status = await this.#child.status;
    await this.#pump;
    const stopped = this.#find("stopped");
    if (!stopped) {
      throw new Error(`agent: no "stopped" line; stderr:\n${this.#lines.slice(-10).join("\n")}`);
    }
    return {
      events: (stopped["events"] ?? {}) as Record<string, number>,
      kernelDrops: Number(stopped["kernel_drops"]),
      decodeErrors: Number(stopped["decode_errors"] ?? 0),
      exitCode: status.code,
    };
  }
}

/** Where tracefs is expected; classic tracepoint attach reads event ids from it. */
const TRACEFS = "/sys/kernel/tracing";

/** Mounts tracefs if absent; returns a function that unmounts it again if this call mounted it. */
export async function ensureTracefs(): Promise<() => Promise<void>> {
  try {
    Deno.statSync(`${TRACEFS}/events`);
    return async () => {};
  } catch { /* not mounted */ }
  await run("mount", ["-t", "tracefs", "nodev", TRACEFS]);
  return async () => {
    try {
      await run("umount", [TRACEFS]);
    } catch (err) {
      // Someone else may use it meanwhile (busy): leave it mounted and say so.
      print(`note: could not unmount the tracefs this benchmark mounted: ${String(err).trim()}`);
    }
  };
}

/** The bench object's path (built by `deno task build` / `deno task bpf:build`). */
export const BENCH_OBJECT_PATH = `${REPO_ROOT}bpf/out/bench.bpf.o`;

/** Programs in bench.bpf.o. */
export const BENCH_PROGRAMS = [
  "bench_produce",
  "bench_tp_getppid",
  "bench_tp_unlinkat",
  "bench_raw_sys_enter",
] as const;

/** Loads bench.bpf.o with only `programs` loaded. */
export function loadBenchObject(
  rt: BpfRuntime,
  programs: readonly (typeof BENCH_PROGRAMS)[number][],
  options: Omit<LoadOptions, "name" | "autoload"> = {},
): BpfObject {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(BENCH_OBJECT_PATH);
  } catch {
    throw new Error(`${BENCH_OBJECT_PATH} is missing: run 'deno task build' first`);
  }
  const autoload = Object.fromEntries(BENCH_PROGRAMS.map((p) => [p, programs.includes(p)]));
  return BpfObject.load(rt, bytes, { name: "bench.bpf.o", autoload, ...options });
}

/** Date, kernel release, CPU count, load average: the header every benchmark prints. */
export function machineLine(): string {
  const release = Deno.osRelease();
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  return `${new Date().toISOString().slice(0, 16)}Z, kernel ${release}, ${onlineCpus()} CPUs, ` +
    `Deno ${Deno.version.deno}, load average ${load}`;
}

/** CPU jiffies (busy, total) of all CPUs and the fork count, from /proc/stat. */
function hostCounters(): { busy: number; total: number; forks: number } {
  const text = Deno.readTextFileSync("/proc/stat");
  const cpu = (/^cpu (.*)$/m.exec(text)?.[1] ?? "").trim().split(/\s+/).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total, forks: Number(/^processes (\d+)$/m.exec(text)?.[1] ?? 0) };
}

/**
 * Samples the host for `ms` before a benchmark starts: how busy its CPUs are and how many
 * processes get forked, i.e. how much other work would disturb the measurement. Returns a line
 * to print (with a warning when the host is not quiet).
 */
export async function hostActivity(ms = 1000): Promise<string> {
  const a = hostCounters();
  await sleep(ms);
  const b = hostCounters();
  const busyPct = (b.busy - a.busy) / Math.max(b.total - a.total, 1) * 100;
  const forksPerS = (b.forks - a.forks) / (ms / 1000);
  const line = `host activity before start: ${busyPct.toFixed(0)} % of all CPUs busy, ` +
    `${forksPerS.toFixed(0)} forks/s`;
  return busyPct > 10 || forksPerS > 20
    ? `${line} -- WARNING: other work is running; expect noisy numbers`
    : line;
}

/**
 * BPF programs of other processes on syscall tracepoints (`sys_enter*` / `sys_exit*`, classic or
 * raw), from `bpftool perf list`: any of them puts every task on the syscall slow path, so a
 * "no agent" baseline measured meanwhile is not a clean one.
 */
export function foreignSyscallHooks(): Promise<string[]> {
  return foreignHooks(/^sys_(enter|exit)/);
}

/**
 * Other processes' BPF programs on tracepoints whose name matches `pattern` (`bpftool perf
 * list`), e.g. another agent on the sched tracepoints, which works on every exec of a storm too.
 */
export async function foreignHooks(pattern: RegExp): Promise<string[]> {
  let list: { pid: number; fd_type?: string; tracepoint?: string }[];
  try {
    list = JSON.parse(await run("bpftool", ["-j", "perf", "list"]));
  } catch {
    return [];
  }
  return list
    .filter((e) => e.pid !== Deno.pid && pattern.test(e.tracepoint ?? ""))
    .map((e) => `pid ${e.pid} ${e.fd_type} ${e.tracepoint}`);
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
