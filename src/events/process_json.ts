/**
 * Builders for Tetragon-shaped JSON export lines of process lifecycle events (`process_exec`,
 * `process_exit`), following protojson with snake_case names:
 * - zero-valued scalars are omitted, except the wrapper fields `pid`, `uid`, `tid`, `auid`, which
 *   always print (0 included);
 * - 64-bit integers print as decimal strings (the process object itself has only 32-bit numbers;
 *   bigints in {@link ProcessInfo.extra} print as strings);
 * - timestamps are RFC3339 strings with 9 fractional digits.
 *
 * Everything is built by string concatenation, not `JSON.stringify` of objects. The serialized
 * `process` object of an instance is computed once ({@link cachedProcessJson}, stored in
 * {@link ProcessInfo.json}) and spliced into every event line of that process, so a line costs a few
 * concatenations. `refcnt` is therefore not printed (it changes between events).
 *
 * @module
 */
import type { ProcessExtra, ProcessInfo } from "../process/types.ts";

/**
 * A process as the line builders take it: a cached record (its {@link cachedProcessJson} is used),
 * an already serialized `process` object, or undefined to omit the field.
 */
export type ProcessRef = ProcessInfo | string | undefined;

/** How a process ended; see {@link exitEventLine}. */
export interface ExitInfo {
  /** Exit status (the `exit()` argument); 0 is omitted, as Tetragon does. */
  status?: number;
  /** Terminating signal: a number (named by {@link signalName}) or a name; 0 / "" omitted. */
  signal?: number | string;
  /** RFC3339 time of the exit for `process_exit.time`; defaults to the event `time`. */
  time?: string;
}

/** What JSON.stringify would escape (or must check: surrogates). */
// deno-lint-ignore no-control-regex -- control characters need JSON escapes
const NEEDS_ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/;

/**
 * A JSON string literal for `s`: `"s"` directly when nothing needs escaping, else
 * `JSON.stringify(s)`.
 */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * Serializes the Tetragon `process` object of `p`:
 * `exec_id, pid, uid, cwd, binary, arguments, flags, start_time, auid, <extra…>, parent_exec_id,
 * tid`, with empty strings omitted, `flags` space-joined, and `pid`/`uid`/`auid`/`tid` always
 * present. `extra` (default `p.extra`) adds fields after `auid`, where Tetragon prints `pod` and
 * `docker`; its undefined, null, "", 0, 0n, false and empty-array values are omitted.
 *
 * Per-event code should use {@link cachedProcessJson}.
 *
 * @example
 * ```ts
 * processJson(info); // '{"exec_id":"…","pid":64746,"uid":0,…,"tid":64746}'
 * ```
 */
export function processJson(p: ProcessInfo, extra: ProcessExtra | undefined = p.extra): string {
  let s = "{";
  if (p.execId !== "") s += `"exec_id":${jsonString(p.execId)},`;
  s += `"pid":${p.pid},"uid":${p.uid}`;
  if (p.cwd !== "") s += `,"cwd":${jsonString(p.cwd)}`;
  if (p.binary !== "") s += `,"binary":${jsonString(p.binary)}`;
  if (p.arguments !== "") s += `,"arguments":${jsonString(p.arguments)}`;
  if (p.flags.length !== 0) s += `,"flags":${jsonString(p.flags.join(" "))}`;
  if (p.startTime !== "") s += `,"start_time":${jsonString(p.startTime)}`;
  s += `,"auid":${p.auid}`;
  if (extra !== undefined) {
    for (const key in extra) {
      const value = extraValueJson(extra[key]);
      if (value !== undefined) s += `,${jsonString(key)}:${value}`;
    }
  }
  if (p.parentExecId !== "") s += `,"parent_exec_id":${jsonString(p.parentExecId)}`;
  s += `,"tid":${p.tid}}`;
  return s;
}

/**
 * The `process` object of `p`, serialized once and kept in `p.json` for the following events of
 * the same instance (the process cache clears it when the record changes).
 */
export function cachedProcessJson(p: ProcessInfo): string {
  return p.json ??= processJson(p);
}

function refJson(ref: ProcessRef): string | undefined {
  if (ref === undefined || typeof ref === "string") return ref;
  return ref.json ?? cachedProcessJson(ref);
}

/**
 * One `process_exec` export line (no trailing newline):
 * `{"process_exec":{"process":…,"parent":…},"node_name":…,"time":…}`. A missing parent is
 * omitted, as protojson omits unset messages. `time` is an RFC3339 string (see
 * `BootTimeFormatter`).
 *
 * @example
 * ```ts
 * exporter.writeLine(execEventLine(proc, parent, "node-1", clock.format(ev.ktime)));
 * ```
 */
export function execEventLine(
  process: ProcessRef,
  parent: ProcessRef,
  nodeName: string,
  time: string,
): string {
  const p = refJson(process);
  const q = refJson(parent);
  let s = '{"process_exec":{';
  if (p !== undefined) s += `"process":${p}`;
  if (q !== undefined) s += p !== undefined ? `,"parent":${q}` : `"parent":${q}`;
  return s + `},"node_name":${jsonString(nodeName)},"time":"${time}"}`;
}

/**
 * One `process_exit` export line (no trailing newline):
 * `{"process_exit":{"process":…,"parent":…,"signal":"SIGKILL","status":3,"time":…},"node_name":…,
 * "time":…}`; a zero status, an absent signal and a missing parent are omitted.
 *
 * @example
 * ```ts
 * const { status, signal } = decodeWaitStatus(ev.exitCode);
 * exporter.writeLine(exitEventLine(proc, parent, { status, signal }, "node-1", time));
 * ```
 */
export function exitEventLine(
  process: ProcessRef,
  parent: ProcessRef,
  exit: ExitInfo,
  nodeName: string,
  time: string,
): string {
  const p = refJson(process);
  const q = refJson(parent);
  let s = '{"process_exit":{';
  let sep = "";
  if (p !== undefined) {
    s += `"process":${p}`;
    sep = ",";
  }
  if (q !== undefined) {
    s += `${sep}"parent":${q}`;
    sep = ",";
  }
  const sig = typeof exit.signal === "number" ? signalName(exit.signal) : exit.signal ?? "";
  if (sig !== "") {
    s += `${sep}"signal":${jsonString(sig)}`;
    sep = ",";
  }
  if (exit.status) {
    s += `${sep}"status":${exit.status}`;
    sep = ",";
  }
  s += `${sep}"time":"${exit.time ?? time}"`;
  return s + `},"node_name":${jsonString(nodeName)},"time":"${time}"}`;
}

/** Linux x86_64 signal names 1–31 (index = number). */
const SIGNALS: readonly string[] = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/** Kernel SIGRTMIN / SIGRTMAX on Linux (glibc reserves 32 and 33 for itself). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/**
 * The name of Linux x86_64 signal `n`: `SIGKILL` for 9; real-time signals as `SIGRTMIN`,
 * `SIGRTMIN+n` (35–49), `SIGRTMAX-n` (50–63), `SIGRTMAX`; anything else `SIG<n>`; "" for 0.
 */
export function signalName(n: number): string {
  if (n === 0) return "";
  const name = SIGNALS[n];
  if (name !== undefined) return name;
  if (n === SIGRTMIN) return "SIGRTMIN";
  if (n === SIGRTMAX) return "SIGRTMAX";
  if (n > SIGRTMIN && n < SIGRTMAX) {
    return n - SIGRTMIN <= 15 ? `SIGRTMIN+${n - SIGRTMIN}` : `SIGRTMAX-${SIGRTMAX - n}`;
  }
  return `SIG${n}`;
}

/**
 * Splits a kernel wait status (`task->exit_code`) into the exit status and the terminating signal:
 * `status = (code >> 8) & 0xff`, `signal = code & 0x7f` (the core-dump bit 0x80 is dropped).
 */
export function decodeWaitStatus(code: number): { status: number; signal: number } {
  return { status: (code >>> 8) & 0xff, signal: code & 0x7f };
}

function extraValueJson(v: unknown): string | undefined {
  switch (typeof v) {
    case "string":
      return v === "" ? undefined : jsonString(v);
    case "number":
      return v === 0 || !Number.isFinite(v) ? undefined : String(v);
    case "bigint":
      return v === 0n ? undefined : `"${v}"`;
    case "boolean":
      return v ? "true" : undefined;
    case "object":
      if (v === null || (Array.isArray(v) && v.length === 0)) return undefined;
      return JSON.stringify(v, bigintAsString);
    default:
      return undefined;
  }
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
