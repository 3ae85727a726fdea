/**
 * Shared pieces of the API end-to-end tests (and the API benchmarks): an HTTP client for a running
 * agent's API (unix socket or TCP, with its token), policies whose events carry a sequence number,
 * the `_unlink_loop.ts` generator as a child process, an incremental reader of the export file,
 * `promtool check metrics`, and a real `NOTIFY_SOCKET` listener (a unix datagram socket through
 * libc, so no Python and no `--unstable-net`).
 *
 * @module
 */
import { encodeSockaddrUn } from "../../src/ffi/unix_dgram.ts";
import type { AgentUnderTest, ExportedEvent } from "../_helpers/agent_process.ts";
import { scaled } from "../_helpers/time_scale.ts";

const GENERATOR = new URL("./_unlink_loop.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

/** One HTTP answer, body read. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // deno-lint-ignore no-explicit-any
  readonly json: any;
}

/** Talks HTTP to one agent's API: `unix:PATH` or `HOST:PORT`. */
export class Api implements Disposable {
  readonly #client: Deno.HttpClient | undefined;
  readonly base: string;
  readonly token: string;

  constructor(address: string, token: string) {
    this.token = token;
    if (address.startsWith("unix:")) {
      this.#client = Deno.createHttpClient({
        proxy: { transport: "unix", path: address.slice("unix:".length) },
      });
      this.base = "http://vigil";
    } else {
      this.#client = undefined;
      this.base = `http://${address}`;
    }
  }

  /** The API of an agent under test, with the token it created. */
  static async of(agent: AgentUnderTest, address = agent.api): Promise<Api> {
    return new Api(address, (await Deno.readTextFile(agent.tokenFile)).trim());
  }

  /** A raw request; the body is read in full. */
  async request(
    method: string,
    path: string,
    options: { body?: BodyInit; auth?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers = new Headers(options.headers ?? {});
    // auth: undefined = the right token, null = no header, a string = that header value.
    if (options.auth === undefined) headers.set("authorization", `Bearer ${this.token}`);
    else if (options.auth !== null) headers.set("authorization", options.auth);
    const res = await fetch(this.base + path, {
      method,
      headers,
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(this.#client === undefined ? {} : { client: this.#client }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch { /* not JSON (YAML, metrics) */ }
    return { status: res.status, headers: res.headers, text, json };
  }

  /** `GET` with the token (reads need it, except the public routes). */
  get(path: string): Promise<Answer> {
    return this.request("GET", path);
  }

  /** `GET` without any `Authorization` header. */
  getWithoutToken(path: string): Promise<Answer> {
    return this.request("GET", path, { auth: null });
  }

  /** `POST /policies` with the right token unless `auth` says otherwise. */
  postPolicy(yaml: string, auth?: string | null): Promise<Answer> {
    return this.request("POST", "/policies", {
      body: yaml,
      ...(auth === undefined ? {} : { auth }),
    });
  }

  /** A streaming `GET` (the caller reads or cancels the body). */
  stream(path: string, signal?: AbortSignal): Promise<Response> {
    return fetch(this.base + path, {
      headers: { authorization: `Bearer ${this.token}` },
      ...(this.#client === undefined ? {} : { client: this.#client }),
      ...(signal === undefined ? {} : { signal }),
    });
  }

  /** One metric's value by name and exact label set text (e.g. `{policy="x"}`), or undefined. */
  async metric(name: string, labels = ""): Promise<number | undefined> {
    const text = (await this.get("/metrics")).text;
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name}${labels} `)) {
        return Number(line.slice(name.length + labels.length + 1));
      }
    }
    return undefined;
  }

  [Symbol.dispose](): void {
    this.#client?.close();
  }
}

/** The address the agent logged on its ready line (`"api":"..."`). */
export function readyAddress(agent: AgentUnderTest): string {
  for (const line of agent.logs()) {
    if (!line.includes('"msg":"ready"')) continue;
    const api = JSON.parse(line).api;
    if (typeof api === "string") return api;
  }
  throw new Error(`no api address on the ready line:\n${agent.logs().join("\n")}`);
}

/** A short unique path prefix for one test's generated unlinkat calls (nothing is created). */
export function seqPrefix(): string {
  return `/tmp/vigil-e2e-${crypto.randomUUID().slice(0, 8)}/f`;
}

/**
 * A TracingPolicy posting every `unlinkat` whose path starts with `prefix`, with `message` and
 * `tags`: each event carries the generator's sequence number in its path.
 */
export function seqPolicy(
  name: string,
  prefix: string,
  message: string,
  tags: readonly string[] = [],
): string {
  return `# vigil API e2e test policy
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
  kprobes:
    - call: sys_unlinkat
      syscall: true
      args:
        - index: 1
          type: string
          label: pathname
      message: ${JSON.stringify(message)}
      tags: ${JSON.stringify(tags)}
      selectors:
        - matchArgs:
            - index: 1
              operator: Prefix
              values: [${JSON.stringify(prefix)}]
`;
}

/**
 * A valid policy that cannot run here: a kprobe on a kernel function (not a syscall). vigil's
 * engine attaches syscall tracepoints only, so it is refused on every kernel (by the planner
 * where the kernel has neither fentry nor kprobes, by the installer elsewhere).
 */
export function unrunnablePolicy(name: string): string {
  return `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
  kprobes:
    - call: do_unlinkat
      syscall: false
      args:
        - index: 0
          type: int
      message: "never runs here"
`;
}

/** What a policy event says, or undefined for other lines. */
export interface SeqEvent {
  readonly policy: string;
  readonly message: string;
  readonly tags: readonly string[];
  readonly path: string;
  /** The generator's sequence number (the path's digits after the prefix), or NaN. */
  readonly seq: number;
  /** The event's time (kernel timestamp, ms since the epoch, sub-ms precision). */
  readonly timeMs: number;
}

/** Reads a `process_kprobe` event of a `seqPolicy`; undefined for anything else. */
export function seqEvent(e: ExportedEvent, prefix: string): SeqEvent | undefined {
  const body = e.process_kprobe;
  if (body === undefined) return undefined;
  const path = body.args?.[0]?.string_arg;
  if (typeof path !== "string" || !path.startsWith(prefix)) return undefined;
  return {
    policy: body.policy_name,
    message: body.message,
    tags: body.tags ?? [],
    path,
    seq: Number(path.slice(prefix.length)),
    timeMs: eventTimeMs(e.time),
  };
}

/** An export `time` ("2026-11-22T06:01:00.578293634Z") in ms since the epoch, sub-ms kept. */
export function eventTimeMs(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(time);
  if (m === null) return Date.parse(time);
  return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? "0"}`) * 1000;
}

/**
 * Follows an export file from where it was when created, parsing only lines that contain `needle`
 * (cheap on a busy host). Handles no rotation: the tests stay far below the 100 MB limit.
 */
export class ExportTail {
  readonly #path: string;
  readonly #needle: string;
  #offset = 0;
  #partial = "";
  /** Lines seen in total (all of them, matching or not). */
  lines = 0;

  constructor(path: string, needle: string, fromStart = false) {
    this.#path = path;
    this.#needle = needle;
    if (!fromStart) {
      try {
        this.#offset = Deno.statSync(path).size;
      } catch { /* not written yet */ }
    }
  }

  /** The new matching events since the last call. */
  poll(): ExportedEvent[] {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.#path, { read: true });
    } catch {
      return [];
    }
    const out: ExportedEvent[] = [];
    try {
      file.seekSync(this.#offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(1 << 20);
      for (;;) {
        const n = file.readSync(buf);
        if (n === null || n === 0) break;
        this.#offset += n;
        const text = this.#partial + decoder.decode(buf.subarray(0, n), { stream: true });
        const lines = text.split("\n");
        this.#partial = lines.pop() ?? "";
        this.lines += lines.length;
        for (const line of lines) {
          if (line.includes(this.#needle)) out.push(JSON.parse(line));
        }
      }
    } finally {
      file.close();
    }
    return out;
  }
}

/** Collects the sequence events of `prefix` from an export as they arrive. */
export class SeqCollector {
  readonly tail: ExportTail;
  readonly prefix: string;
  readonly events: SeqEvent[] = [];

  constructor(exportPath: string, prefix: string) {
    this.prefix = prefix;
    this.tail = new ExportTail(exportPath, prefix);
  }

  poll(): SeqEvent[] {
    for (const e of this.tail.poll()) {
      const s = seqEvent(e, this.prefix);
      if (s !== undefined) this.events.push(s);
    }
    return this.events;
  }

  /** Events matching `predicate` so far. */
  where(predicate: (e: SeqEvent) => boolean): SeqEvent[] {
    return this.poll().filter(predicate);
  }

  /** Waits until `predicate` matches `count` events. */
  async waitFor(
    predicate: (e: SeqEvent) => boolean,
    count = 1,
    timeoutMs = 15_000,
  ): Promise<SeqEvent[]> {
    const until = Date.now() + scaled(timeoutMs);
    for (;;) {
      const matched = this.where(predicate);
      if (matched.length >= count) return matched;
      if (Date.now() > until) {
        throw new Error(`timed out waiting for ${count} event(s); have ${matched.length}`);
      }
      await sleep(25);
    }
  }
}

/** A running `_unlink_loop.ts`. */
export interface Generator {
  /** Asks it to stop (stop file) and resolves to the last sequence number it used. */
  stop(): Promise<{ last: number; seconds: number }>;
  /** Waits until it made its `count` calls and exited (no stop request). */
  done(): Promise<{ last: number; seconds: number }>;
  readonly pid: number;
}

/** Starts the generator: `rate` unlinkat calls a second on `prefix<seq>` (0 = unpaced). */
export function startGenerator(
  prefix: string,
  rate: number,
  options: { count?: number } = {},
): Generator {
  const stopFile = `${Deno.makeTempDirSync({ prefix: "vigil-gen-" })}/stop`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-read",
      GENERATOR,
      prefix,
      String(rate),
      String(options.count ?? 0),
      stopFile,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = child.output();
  const done = async () => {
    const out = await output;
    Deno.removeSync(stopFile.slice(0, -"/stop".length), { recursive: true });
    if (!out.success) throw new Error(`generator failed (${out.code})`);
    return JSON.parse(decoder.decode(out.stdout));
  };
  return {
    pid: child.pid,
    stop() {
      Deno.writeTextFileSync(stopFile, "");
      return done();
    },
    done,
  };
}

/** Runs `promtool check metrics` on `text`. */
export async function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/** Sorted numbers of 1..last missing from `seqs`. */
export function missing(seqs: Iterable<number>, last: number): number[] {
  const have = new Set(seqs);
  const out: number[] = [];
  for (let i = 1; i <= last; i++) if (!have.has(i)) out.push(i);
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const LIBC = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * A unix datagram socket bound at a filesystem path, as systemd's `NOTIFY_SOCKET` is: the agent
 * sends its sd_notify datagrams here. Reads without blocking, polled.
 */
export class NotifyListener implements Disposable {
  readonly path: string;
  readonly #lib = Deno.dlopen("libc.so.6", LIBC);
  readonly #fd: number;
  readonly received: string[] = [];

  constructor(path: string) {
    this.path = path;
    const AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_NONBLOCK = 0o4000, SOCK_CLOEXEC = 0o2000000;
    this.#fd = this.#lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (this.#fd < 0) throw new Error("socket(AF_UNIX, SOCK_DGRAM) failed");
    const { addr, length } = encodeSockaddrUn(path);
    if (this.#lib.symbols.bind(this.#fd, addr, length) !== 0) {
      this.#lib.symbols.close(this.#fd);
      throw new Error(`bind ${path} failed`);
    }
  }

  /** Datagrams received so far (each one as text). */
  poll(): string[] {
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = Number(this.#lib.symbols.recv(this.#fd, buf, BigInt(buf.length), 0));
      if (n < 0) break; // EAGAIN: nothing queued
      this.received.push(decoder.decode(buf.subarray(0, n)));
    }
    return this.received;
  }

  /** Waits for a datagram containing `needle`. */
  async waitFor(needle: string, timeoutMs = 20_000): Promise<string> {
    const until = Date.now() + scaled(timeoutMs);
    for (;;) {
      const found = this.poll().find((d) => d.includes(needle));
      if (found !== undefined) return found;
      if (Date.now() > until) {
        throw new Error(`no datagram with ${needle}; got ${JSON.stringify(this.received)}`);
      }
      await sleep(20);
    }
  }

  [Symbol.dispose](): void {
    this.#lib.symbols.close(this.#fd);
    this.#lib.close();
    try {
      Deno.removeSync(this.path);
    } catch { /* already gone */ }
  }
}

/** Prints a measured value under the test's name (shown by `deno test`). */
export function note(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(`  ${text}\n`));
}
