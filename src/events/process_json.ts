/**
 * Builders for Tetragon-shaped JSON export lines of process lifecycle events (`process_exec`,
 * `process_exit`), following protojson with snake_case names:
 * - zero-valued scalars are omitted, except the wrapper fields `pid`, `uid`, `tid`, `auid`, which
 *   always print (0 included);
 * - 64-bit integers print as decimal strings (the process object itself has only 32-bit numbers;
 *   bigints in {@link ProcessInfo.extra} print as strings);
 * - timestamps are RFC3339 strings with 9 fractional digits.
 *
 * The serialized `process` object of an instance is computed once ({@link cachedProcessJson},
 * stored in {@link ProcessInfo.json}) and spliced into every event line of that process, so a line
 * costs a few string concatenations, not a `JSON.stringify` of nested objects. `refcnt` is
 * therefore not printed (it changes between events).
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
 * `docker`; its undefined, null, "", 0, 0n, false and empty-array values are omitted, and bigints
 * (also nested ones) print as decimal strings.
 *
 * One `JSON.stringify` of a fixed-shape object (omitted fields are `undefined`): measured about
 * twice as fast as concatenating escaped fields. The extra fields are serialized once per extra
 * object (memoised by identity: an extra object must not be mutated once printed; replace it).
 * Per-event code should use {@link cachedProcessJson}.
 *
 * @example
 * ```ts
 * const json = processJson({
 *   pid: 64746, tid: 64746, ktime: 16817705012542n, execId: "dGV0cmFnb24…", parentPid: 1,
 *   parentKtime: 1000n, parentExecId: "", binary: "/bin/sh", arguments: "-c true", cwd: "/",
 *   uid: 0, auid: 4294967295, flags: ["execve", "rootcwd"], startTime: "", cgroupId: 0n, refcnt: 1,
 * });
 * // {"exec_id":"dGV0cmFnb24…","pid":64746,"uid":0,"cwd":"/","binary":"/bin/sh",
 * //  "arguments":"-c true","flags":"execve rootcwd","auid":4294967295,"tid":64746}
 * ```
 */
export function processJson(p: ProcessInfo, extra: ProcessExtra | undefined = p.extra): string {
  const fields = extra === undefined ? "" : fieldsFor(extra, p.nsPid ?? 0);
  if (fields === "") {
    return JSON.stringify({
      exec_id: p.execId || undefined,
      pid: p.pid,
      uid: p.uid,
      cwd: p.cwd || undefined,
      binary: p.binary || undefined,
      arguments: p.arguments || undefined,
      flags: p.flags.length !== 0 ? p.flags.join(" ") : undefined,
      start_time: p.startTime || undefined,
      auid: p.auid,
      parent_exec_id: p.parentExecId || undefined,
      tid: p.tid,
    });
  }
  // The fixed-shape head up to `auid` (it always prints, so the head ends with it), then the
  // memoised extra fields, then the tail.
  const head = JSON.stringify({
    exec_id: p.execId || undefined,
    pid: p.pid,
    uid: p.uid,
    cwd: p.cwd || undefined,
    binary: p.binary || undefined,
    arguments: p.arguments || undefined,
    flags: p.flags.length !== 0 ? p.flags.join(" ") : undefined,
    start_time: p.startTime || undefined,
    auid: p.auid,
  });
  const parent = p.parentExecId ? `,"parent_exec_id":${jsonString(p.parentExecId)}` : "";
  return `${head.slice(0, -1)},${fields}${parent},"tid":${p.tid}}`;
}

/**
 * Serialized printable fields of each extra object (`"k":v,...`, no braces; "" when none), so
 * processes sharing one extra object (every process of a container) serialize it once.
 */
const EXTRA_FIELDS = new WeakMap<ProcessExtra, string>();

function extraFields(extra: ProcessExtra): string {
  let fields = EXTRA_FIELDS.get(extra);
  if (fields === undefined) {
    const obj: Record<string, unknown> = {};
    let any = false;
    for (const key in extra) {
      const value = extra[key];
      if (isPrintable(value)) {
        obj[key] = value;
        any = true;
      }
    }
    fields = any ? JSON.stringify(obj, bigintAsString).slice(1, -1) : "";
    EXTRA_FIELDS.set(extra, fields);
  }
  return fields;
}

// A value no pid can take: marks where the per-process `pod.container.pid` goes.
const PID_SENTINEL = 987654321987654;
const PID_SPLIT = new WeakMap<ProcessExtra, readonly [string, string] | null>();

/**
 * The extra fields with `pod.container.pid` set to this process's namespace pid. The container
 * object is shared by every process of the container, so its JSON is split once around the pid
 * (Tetragon prints it last in `container`) and each process only joins the two halves.
 */
function fieldsFor(extra: ProcessExtra, nsPid: number): string {
  if (nsPid === 0) return extraFields(extra);
  let split = PID_SPLIT.get(extra);
  if (split === undefined) {
    const pod = extra.pod as { container?: object } | undefined;
    split = null;
    if (pod && typeof pod === "object" && pod.container && typeof pod.container === "object") {
      const marked = extraFields({
        ...extra,
        pod: { ...pod, container: { ...pod.container, pid: PID_SENTINEL } },
      });
      const at = marked.indexOf(`"pid":${PID_SENTINEL}`);
      if (at >= 0) split = [marked.slice(0, at), marked.slice(at + `"pid":${PID_SENTINEL}`.length)];
    }
    PID_SPLIT.set(extra, split);
  }
  return split === null ? extraFields(extra) : `${split[0]}"pid":${nsPid}${split[1]}`;
}

/**
 * The `process` object of `p`, serialized once and kept in `p.json` for the following events of
 * the same instance (the process cache clears it when the record changes).
 */
export function cachedProcessJson(p: ProcessInfo): string {
  return p.json ??= processJson(p);
}

/**
 * One-entry memo of the quoted node name: the agent passes the same name with every event, and
 * quoting it each time would cost more than the rest of the line. A pure cache; no behaviour
 * depends on it.
 */
let memoNodeName = "";
let memoNodeJson = '""';

function nodeNameJson(nodeName: string): string {
  if (nodeName !== memoNodeName) {
    memoNodeJson = jsonString(nodeName);
    memoNodeName = nodeName;
  }
  return memoNodeJson;
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
 * execEventLine('{"pid":2}', '{"pid":1}', "node-1", "2026-01-01T00:00:00.000000000Z");
 * // {"process_exec":{"process":{"pid":2},"parent":{"pid":1}},"node_name":"node-1",
 * //  "time":"2026-01-01T00:00:00.000000000Z"}
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
  return s + `},"node_name":${nodeNameJson(nodeName)},"time":"${time}"}`;
}

/**
 * One `process_exit` export line (no trailing newline):
 * `{"process_exit":{"process":…,"parent":…,"signal":"SIGKILL","status":3,"time":…},"node_name":…,
 * "time":…}`; a zero status, an absent signal and a missing parent are omitted.
 *
 * @example
 * ```ts
 * const time = "2026-01-01T00:00:00.000000000Z";
 * exitEventLine('{"pid":2}', undefined, decodeWaitStatus(9), "node-1", time);
 * // {"process_exit":{"process":{"pid":2},"signal":"SIGKILL","time":"…"},"node_name":"node-1",
 * //  "time":"…"}
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
  const sig = exit.signal;
  if (typeof sig === "number") {
    if (sig !== 0) {
      s += `${sep}"signal":"${signalName(sig)}"`; // table names need no escaping
      sep = ",";
    }
  } else if (sig !== undefined && sig !== "") {
    s += `${sep}"signal":${jsonString(sig)}`;
    sep = ",";
  }
  if (exit.status) {
    s += `${sep}"status":${exit.status}`;
    sep = ",";
  }
  s += `${sep}"time":"${exit.time ?? time}"`;
  return s + `},"node_name":${nodeNameJson(nodeName)},"time":"${time}"}`;
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

/** Whether an extra value is printed: not undefined, null, "", 0, 0n, false or []. */
function isPrintable(v: unknown): boolean {
  if (v === undefined || v === null || v === "" || v === 0 || v === 0n || v === false) return false;
  if (typeof v === "number") return Number.isFinite(v);
  return !(Array.isArray(v) && v.length === 0);
}

function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
