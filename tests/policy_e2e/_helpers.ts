/**
 * Shared pieces of the real-kernel policy tests: a policy directory written by the test, the
 * agent started on it (one per test file), its `GET /policies` counters, and real processes that
 * make exactly the syscalls a test needs.
 *
 * Processes are `perl -e` one-liners: perl is in every Debian base system and its `syscall()`
 * makes a raw syscall with the numbers and strings given (strings are passed as pointers), so a
 * test controls every argument the kernel sees. The syscalls used have no effect with the values
 * given (getpriority with an invalid `which`, unlinkat of paths that do not exist, ftruncate of a
 * read-only fd, connect to a closed port).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type AgentUnderTest,
  type ExportedEvent,
  startAgentProcess,
} from "../_helpers/agent_process.ts";
import { scaled } from "../_helpers/time_scale.ts";

export type { ExportedEvent };

/** x86_64 syscall numbers the tests make. */
export const NR = {
  connect: 42,
  ftruncate: 77,
  chdir: 80,
  rmdir: 84,
  unlink: 87,
  getpgid: 121,
  getsid: 124,
  getpriority: 140,
  unlinkat: 263,
} as const;

/** AT_FDCWD, the dirfd of unlinkat(2) calls on a path. */
export const AT_FDCWD = -100;

/** The perl interpreter the tests run (copied to temp paths for distinct binaries). */
export const PERL = "/usr/bin/perl";

/** A TracingPolicy document named `name` with `spec` (YAML lines, indented by 2). */
export function policy(name: string, spec: string): string {
  return `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
${spec.replace(/^\n/, "").trimEnd()}
`;
}

/**
 * `spec` of a policy hooking getpriority(which, who), both typed `int`, with `selectors` (YAML
 * lines, indented as list items under `selectors:` at 4 spaces). getpriority with `which` outside
 * 0..2 fails with EINVAL and nothing on a host makes such calls, so a test marks its calls with
 * its own `which` and uses `who` as the value under test.
 */
export function getprioritySpec(selectors: string, extra = ""): string {
  return `  kprobes:
  - call: sys_getpriority
    syscall: true
    args:
    - index: 0
      type: int
      label: which
    - index: 1
      type: int
      label: who
${extra}    selectors:
${selectors.replace(/^\n/, "").trimEnd()}
`;
}

/** A perl string literal. */
export function perlString(s: string): string {
  return `"${s.replace(/[\\"$@]/g, (c) => `\\${c}`)}"`;
}

/**
 * Perl code making syscall `nr` with `args` (numbers as integers, strings as pointers; perl wants
 * writable strings there, so they go through variables).
 */
export function syscallCode(nr: number, ...args: (number | string)[]): string {
  let vars = "";
  const list = args.map((a, i) => {
    if (typeof a === "number") return String(a);
    vars += `my $a${i} = ${perlString(a)}; `;
    return `$a${i}`;
  });
  return `${vars}syscall(${[nr, ...list].join(", ")});`;
}

/** Outcome of a finished process. */
export interface Ran {
  readonly pid: number;
  readonly code: number;
  readonly signal: Deno.Signal | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runPerl}. */
export interface RunOptions {
  /** The interpreter to run (a copy of perl gives a distinct binary). */
  readonly binary?: string;
  /** Runs `[...wrapper, binary, "-e", code]` (e.g. setpriv or unshare). */
  readonly wrapper?: readonly string[];
}

/** Runs `perl -e code` to completion. */
export async function runPerl(code: string, options: RunOptions = {}): Promise<Ran> {
  const argv = [...(options.wrapper ?? []), options.binary ?? PERL, "-e", code];
  return await run(argv[0]!, argv.slice(1));
}

/** Runs `cmd args` to completion, capturing its output. */
export async function run(cmd: string, args: readonly string[]): Promise<Ran> {
  const child = new Deno.Command(cmd, {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  const text = new TextDecoder();
  return {
    pid: child.pid,
    code: out.code,
    signal: out.signal,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** A perl process that waits for a line on stdin, then runs `code`. */
export interface WaitingProcess extends AsyncDisposable {
  readonly pid: number;
  /** Lets it run `code`; resolves when it exited. */
  go(): Promise<Ran>;
}

/** Spawns `perl -e '<STDIN>; code'`: its pid is known before it makes the syscall. */
export function spawnWaiting(code: string, options: RunOptions = {}): WaitingProcess {
  const argv = [...(options.wrapper ?? []), options.binary ?? PERL, "-e", `<STDIN>; ${code}`];
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let released = false;
  return {
    pid: child.pid,
    async go() {
      released = true;
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
      const out = await child.output();
      const text = new TextDecoder();
      return {
        pid: child.pid,
        code: out.code,
        signal: out.signal,
        stdout: text.decode(out.stdout),
        stderr: text.decode(out.stderr),
      };
    },
    async [Symbol.asyncDispose]() {
      // A test that failed before go(): end the process instead of leaking it.
      if (released) return;
      child.kill("SIGKILL");
      await child.stdin.close().catch(() => {});
      await child.output();
    },
  };
}

/** Kernel counters of one policy, as `GET /policies` reports them. */
export interface Counters {
  seen: number;
  posted: number;
  filtered: number;
  rateLimited: number;
  signals: number;
}

/** One entry of `GET /policies`. */
export interface PolicyStatus {
  name: string;
  state: "enabled" | "error" | "loading" | "throttled";
  reason?: string;
  file: string;
  budget?: {
    cpuBudget: number;
    cpuUsed: number;
    bpfUsed: number;
    state: string;
    enforcing: boolean;
  };
  mode: string;
  hooks: { hook: string; mechanism: string; cost: string; attached: boolean }[];
  counters: Counters;
}

/** The agent running a test's policy directory. */
export interface PolicyAgent extends AsyncDisposable {
  readonly agent: AgentUnderTest;
  /** The policy directory (removed with the agent). */
  readonly policyDir: string;
  /** A scratch directory for the test's files (removed with the agent). */
  readonly work: string;
  /** `GET /policies`. */
  policies(): Promise<PolicyStatus[]>;
  /** One policy's status; throws when the agent does not list it. */
  status(name: string): Promise<PolicyStatus>;
  /** One policy's kernel counters. */
  counters(name: string): Promise<Counters>;
  /** `POST /policies` with one policy's YAML (asserts 200): adds it or replaces its namesake. */
  apply(yaml: string): Promise<void>;
  /** Exported policy events of policy `name` (any kind). */
  eventsOf(name: string): ExportedEvent[];
  /** Waits for `count` events of policy `name` matching `predicate`. */
  waitForPolicyEvents(
    name: string,
    predicate: (body: ExportedEvent) => boolean,
    count?: number,
  ): Promise<ExportedEvent[]>;
}

/** The body (`process_kprobe`, `process_tracepoint`, ...) of an exported event. */
export function bodyOf(e: ExportedEvent): ExportedEvent {
  return e.process_kprobe ?? e.process_tracepoint ?? e.process_lsm ?? e.process_exit ??
    e.process_exec ?? {};
}

/**
 * Writes `files` (name → text) into a fresh policy directory and starts the agent on it.
 * `setup(work)` runs first and may return more files (paths under the scratch directory `work`
 * are known by then).
 */
export async function startPolicyAgent(
  files: Record<string, string> | ((work: string) => Promise<Record<string, string>>),
  extraArgs: readonly string[] = [],
): Promise<PolicyAgent> {
  const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-policies-" });
  const work = await Deno.makeTempDir({ prefix: "vigil-e2e-work-" });
  let agent: AgentUnderTest | undefined;
  try {
    const texts = typeof files === "function" ? await files(work) : files;
    for (const [name, text] of Object.entries(texts)) {
      await Deno.writeTextFile(`${policyDir}/${name}`, text);
    }
    agent = await startAgentProcess({
      args: ["--policy-dir", policyDir, ...extraArgs],
      // Start-up time is not what these tests assert (bench/footprint.ts measures it): each
      // fentry/fexit/LSM target verifies its own program (~0.5-2.5 s on a busy 2-core host), so
      // allow 5 s per policy file on top of 20 s. startAgentProcess stretches it by the time
      // scale itself.
      readyTimeoutMs: 20_000 + 5_000 * Object.keys(texts).length,
    });
  } catch (err) {
    await Deno.remove(policyDir, { recursive: true }).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
    throw err;
  }
  const running = agent;
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: running.api.slice("unix:".length) },
  });

  async function policies(): Promise<PolicyStatus[]> {
    const token = (await Deno.readTextFile(running.tokenFile)).trim();
    const res = await fetch("http://vigil/policies", {
      client,
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.policies as PolicyStatus[];
  }

  async function status(name: string): Promise<PolicyStatus> {
    const all = await policies();
    const found = all.find((p) => p.name === name);
    if (!found) {
      throw new Error(`agent does not list policy ${name}: ${all.map((p) => p.name).join(", ")}`);
    }
    return found;
  }

  const eventsOf = (name: string) => running.events().filter((e) => bodyOf(e).policy_name === name);

  return {
    agent: running,
    policyDir,
    work,
    policies,
    status,
    counters: async (name) => (await status(name)).counters,
    async apply(yaml) {
      const token = (await Deno.readTextFile(running.tokenFile)).trim();
      const res = await fetch("http://vigil/policies", {
        method: "POST",
        client,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/yaml" },
        body: yaml,
      });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
    },
    eventsOf,
    waitForPolicyEvents: (name, predicate, count = 1) =>
      running.waitFor((e) => bodyOf(e).policy_name === name && predicate(bodyOf(e)), {
        count,
        timeoutMs: 10_000,
      }),
    async [Symbol.asyncDispose]() {
      client.close();
      await running[Symbol.asyncDispose]();
      await Deno.remove(policyDir, { recursive: true }).catch(() => {});
      await Deno.remove(work, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * The core check of one operator: runs `miss` (the call the policy must filter out) and then
 * `hit` (the call it must post), and asserts, for policy `name`:
 * - the miss was counted as filtered in the kernel (`filtered` grew, `posted` did not);
 * - the hit posted exactly one event, which `check` validates; the miss posted none (events are
 *   exported in ring order, so once the hit's event is there, a miss event would be too);
 * - `posted` equals the number of events exported for the policy.
 *
 * Returns the hit's event body.
 */
export async function expectOneEvent(
  pa: PolicyAgent,
  name: string,
  calls: {
    miss?: () => Promise<Ran>;
    hit: () => Promise<Ran>;
    /** Checks how the matching process ended (default: exit status 0). */
    hitEnded?: (hit: Ran) => void;
  },
  check: (body: ExportedEvent, hit: Ran) => void,
): Promise<ExportedEvent> {
  const c0 = await pa.counters(name);
  let missRan: Ran | undefined;
  if (calls.miss) {
    missRan = await calls.miss();
    assert.equal(missRan.code, 0, `the non-matching process failed: ${missRan.stderr}`);
    const c1 = await pa.counters(name);
    assert.ok(c1.filtered > c0.filtered, `filtered did not grow: ${JSON.stringify([c0, c1])}`);
    assert.equal(c1.posted, c0.posted, `the non-matching call was posted: ${JSON.stringify(c1)}`);
  }
  const before = await pa.counters(name);
  const hit = await calls.hit();
  if (calls.hitEnded) calls.hitEnded(hit);
  else assert.equal(hit.code, 0, `the matching process failed: ${hit.stderr}`);
  const after = await pa.counters(name);
  assert.equal(after.posted, before.posted + 1, `posted: ${JSON.stringify([before, after])}`);
  const [event] = await pa.waitForPolicyEvents(name, (b) => b.process?.pid === hit.pid);
  await settle();
  const mine = pa.eventsOf(name);
  assert.deepEqual(
    mine.map((e) => bodyOf(e).process?.pid),
    [hit.pid],
    `events of ${name}: ${JSON.stringify(mine)}`,
  );
  if (missRan) {
    assert.ok(!mine.some((e) => bodyOf(e).process?.pid === missRan.pid));
  }
  assert.equal((await pa.counters(name)).posted, mine.length, "posted != events exported");
  const body = bodyOf(event!);
  check(body, hit);
  return body;
}

/** A short pause for in-flight events to reach the export file (stretched by the time scale). */
export function settle(ms = 150): Promise<void> {
  return new Promise((r) => setTimeout(r, scaled(ms)));
}

/** The inode of namespace `kind` of process `pid` (`/proc/PID/ns/KIND`). */
export function nsInode(kind: string, pid: number | "self" = "self"): number {
  const link = Deno.readLinkSync(`/proc/${pid}/ns/${kind}`);
  const m = /\[(\d+)\]$/.exec(link);
  if (!m) throw new Error(`unexpected ns link ${link}`);
  return Number(m[1]);
}

/** A kernel feature as the agent's probe reports it. */
export interface KernelFeature {
  supported: boolean | null;
  reason: string;
}

/** The running kernel's features, from the agent's own probe (`GET /status`). */
export async function kernelFeatures(pa: PolicyAgent): Promise<Record<string, KernelFeature>> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: pa.agent.api.slice("unix:".length) },
  });
  try {
    const token = (await Deno.readTextFile(pa.agent.tokenFile)).trim();
    const res = await fetch("http://vigil/status", {
      client,
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    return body.kernel.features;
  } finally {
    client.close();
  }
}
