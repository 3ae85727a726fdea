/**
 * Helpers of the policy benchmarks (bench/policy_*.ts), on top of `_lib.ts`: the agent started on
 * a policy directory with its API on a private unix socket (to read the plan's mechanisms and the
 * kernel counters), the bare programs of `bpf/bench_policy.bpf.c`, the policy files measured, and
 * a check that no other program holds a syscall tracepoint while a round runs (one would put every
 * task, the baseline's included, on the kernel's slow syscall path).
 *
 * @module
 */
import { BpfObject } from "../src/bpf/object.ts";
import type { BpfRuntime } from "../src/bpf/runtime.ts";
import { AgentProcess, type AgentStopped, REPO_ROOT, run, sleep } from "./_lib.ts";

/** The file-deletion example, as shipped (one hook per deletion syscall). */
export const FILE_DELETION_POLICY = `${REPO_ROOT}policies/file_deletion.yaml`;
/** The same, written the field's expensive way (raw_syscalls + InMap): vigil rewrites it. */
export const EXPENSIVE_POLICY = `${REPO_ROOT}tests/fixtures/policy/file_deletion_expensive.yaml`;

/**
 * The expensive policy made impossible to rewrite, with the same events: its selector also
 * compares the id with `GT 0` (always true for the deletion syscalls), and a split into
 * per-syscall tracepoints cannot express GT, so the hook stays on raw_syscalls/sys_enter.
 */
export function expensiveKeptOnRawSyscalls(): string {
  const text = Deno.readTextFileSync(EXPENSIVE_POLICY)
    .replace("name: file-deletion-expensive", "name: file-deletion-raw");
  return text.trimEnd() + `
      - index: 4
        operator: GT
        values:
        - "0"
`;
}

/** Policy names of the files above. */
export const POLICY_NAMES = {
  cheap: "file-deletion",
  rewritten: "file-deletion-expensive",
  raw: "file-deletion-raw",
} as const;

/** One policy of `GET /policies`. */
export interface PolicyStatus {
  name: string;
  state: string;
  reason?: string;
  hooks: { hook: string; mechanism: string; cost: string; attached: boolean }[];
  counters: { seen: number; posted: number; filtered: number; rateLimited: number };
}

/** The agent running one policy directory, with its API on a unix socket. */
export class PolicyAgent {
  readonly agent: AgentProcess;
  readonly dir: string;
  readonly exportPath: string;
  readonly #client: Deno.HttpClient;

  private constructor(agent: AgentProcess, dir: string, exportPath: string) {
    this.agent = agent;
    this.dir = dir;
    this.exportPath = exportPath;
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: `${dir}/api.sock` } });
  }

  /**
   * Starts the agent on a fresh directory holding `policies` (file name → YAML; none: process
   * tracking only, `--policy-dir ""`).
   */
  static async start(
    policies: Record<string, string> | null,
    extraArgs: readonly string[] = [],
  ): Promise<PolicyAgent> {
    const dir = Deno.makeTempDirSync({ prefix: "vigil_bench_policy_" });
    const policyDir = `${dir}/policies`;
    Deno.mkdirSync(policyDir);
    for (const [name, text] of Object.entries(policies ?? {})) {
      Deno.writeTextFileSync(`${policyDir}/${name}`, text);
    }
    const exportPath = `${dir}/events.json`;
    try {
      const { agent } = await AgentProcess.start(exportPath, [
        "--policy-dir",
        policies === null ? "" : policyDir,
        "--listen",
        `unix:${dir}/api.sock`,
        "--api-token-file",
        `${dir}/api-token`,
        ...extraArgs,
      ]);
      return new PolicyAgent(agent, dir, exportPath);
    } catch (err) {
      Deno.removeSync(dir, { recursive: true });
      throw err;
    }
  }

  /** `GET /policies`. */
  async policies(): Promise<PolicyStatus[]> {
    const token = Deno.readTextFileSync(`${this.dir}/api-token`).trim();
    const res = await fetch("http://vigil/policies", {
      client: this.#client,
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw new Error(`GET /policies: ${res.status} ${await res.text()}`);
    return (await res.json()).policies as PolicyStatus[];
  }

  /** Stops the agent (SIGTERM, final drain) and returns its `stopped` line. */
  async stop(): Promise<AgentStopped> {
    this.#client.close();
    return await this.agent.stop();
  }

  /** Removes the directory (export included). */
  remove(): void {
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/** `name: hook via mechanism` lines of the policies an agent runs, for the report. */
export function describePlan(policies: readonly PolicyStatus[]): string[] {
  return policies.map((p) =>
    `${p.name} (${p.state}${p.reason ? `: ${p.reason}` : ""}): ` +
    p.hooks.map((h) => `${h.hook} via ${h.mechanism} [${h.cost}]`).join("; ")
  );
}

/** Counts export lines of policy `policy` whose process is `pid`, in every export file. */
export function countPolicyEvents(exportPath: string, policy: string, pid: number): number {
  const dir = exportPath.slice(0, exportPath.lastIndexOf("/"));
  const base = exportPath.slice(exportPath.lastIndexOf("/") + 1);
  const head = new RegExp(
    `^\\{"process_(?:kprobe|tracepoint)":\\{"process":\\{"exec_id":"[^"]*","pid":(\\d+),`,
  );
  const marker = `"policy_name":${JSON.stringify(policy)}`;
  let n = 0;
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.isFile || !entry.name.startsWith(base)) continue;
    const text = Deno.readTextFileSync(`${dir}/${entry.name}`);
    for (const line of text.split("\n")) {
      const m = head.exec(line);
      if (m && Number(m[1]) === pid && line.includes(marker)) n++;
    }
  }
  return n;
}

/** The bench object of this file (built by `scripts/build_bpf.sh`). */
export const BENCH_POLICY_OBJECT_PATH = `${REPO_ROOT}bpf/out/bench_policy.bpf.o`;

/** Programs of bench_policy.bpf.o. */
export const BARE_PROGRAMS = [
  "bare_unlinkat",
  "bare_unlink",
  "bare_rmdir",
  "bare_raw_inmap",
] as const;

/** x86_64 ids of the deletion syscalls (unlink, rmdir, unlinkat). */
export const DELETION_SYSCALL_IDS = [87n, 84n, 263n] as const;

/** bench_policy.bpf.o, loaded, with the deletion syscall ids in `bare_ids`. */
export function loadBareObject(rt: BpfRuntime): BpfObject {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(BENCH_POLICY_OBJECT_PATH);
  } catch {
    throw new Error(`${BENCH_POLICY_OBJECT_PATH} is missing: run 'deno task build' first`);
  }
  const object = BpfObject.load(rt, bytes, { name: "bench_policy.bpf.o" });
  const ids = object.map("bare_ids");
  for (const id of DELETION_SYSCALL_IDS) {
    ids.update(new Uint8Array(new BigUint64Array([id]).buffer), new Uint8Array([1]));
  }
  return object;
}

/** Attaches `programs` of `object`; returns a teardown that detaches them. */
export function attachBare(
  object: BpfObject,
  programs: readonly (typeof BARE_PROGRAMS)[number][],
): () => Promise<void> {
  const links = programs.map((p) => object.attach(p));
  return () => {
    for (const link of links) link.close();
    return Promise.resolve();
  };
}

/**
 * Programs of other processes on syscall tracepoints (`syscalls/sys_*`, `raw_syscalls/*`, and
 * BTF `sys_enter`/`sys_exit`), as `pid:tracepoint`, from `bpftool perf`. Any of them puts every
 * task on the slow syscall path, so a round measured meanwhile has no true baseline.
 */
export async function foreignSyscallHooks(ownPids: ReadonlySet<number>): Promise<string[]> {
  let list: { pid: number; tracepoint?: string }[];
  try {
    list = JSON.parse(await run("bpftool", ["-j", "perf"]));
  } catch {
    return [];
  }
  return list
    .filter((e) => !ownPids.has(e.pid) && /^sys_(enter|exit)/.test(e.tracepoint ?? ""))
    .map((e) => `${e.pid}:${e.tracepoint}`);
}

/**
 * Waits (up to `maxMs`) until no other process holds a syscall tracepoint; returns those still
 * holding one (empty when the host is clean).
 */
export async function waitForCleanHost(
  ownPids: ReadonlySet<number>,
  maxMs: number,
): Promise<string[]> {
  const until = performance.now() + maxMs;
  for (;;) {
    const foreign = await foreignSyscallHooks(ownPids);
    if (foreign.length === 0 || performance.now() > until) return foreign;
    await sleep(500);
  }
}

/** Process-unique list without duplicates, shortened for a report line. */
export function summarize(items: readonly string[], max = 6): string {
  const unique = [...new Set(items)];
  return unique.slice(0, max).join(", ") + (unique.length > max ? `, ... (${unique.length})` : "");
}
