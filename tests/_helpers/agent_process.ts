/**
 * Starts the real agent (`deno run main.ts run`) as a child process, the way a user does, waits
 * for its "ready" log line, and reads the events it exports.
 *
 * @module
 */

import { scaled } from "./time_scale.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** `vigil run` flags that configure workload metadata sources. */
const METADATA_FLAGS = new Set([
  "--containerd-socket",
  "--docker-socket",
  "--garden-socket",
  "--kubeconfig",
  "--no-metadata",
]);

/** One exported event line, parsed. */
// deno-lint-ignore no-explicit-any
export type ExportedEvent = Record<string, any>;

/** A running agent under test. */
export interface AgentUnderTest extends AsyncDisposable {
  readonly pid: number;
  readonly exportPath: string;
  /** The agent's API socket (`unix:PATH`) and token file. */
  readonly api: string;
  readonly tokenFile: string;
  /** Everything the agent logged on stderr so far, parsed per line where JSON. */
  logs(): string[];
  /** All events exported so far. */
  events(): ExportedEvent[];
  /** Polls the export until `predicate` matches `count` events; throws after `timeoutMs` (scaled). */
  waitFor(
    predicate: (e: ExportedEvent) => boolean,
    options?: { count?: number; timeoutMs?: number },
  ): Promise<ExportedEvent[]>;
  /** Sends `signal` and resolves to the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** Options of {@link startAgentProcess}. */
export interface StartOptions {
  readonly args?: string[];
  /** How long to wait for "ready" (default 20 s), stretched by the time scale. */
  readonly readyTimeoutMs?: number;
  /** Extra environment variables for the agent (e.g. `NOTIFY_SOCKET`). */
  readonly env?: Record<string, string>;
}

/** Spawns the agent and resolves once it logged "ready" (rejects with its stderr otherwise). */
export async function startAgentProcess(options: StartOptions = {}): Promise<AgentUnderTest> {
  const dir = await Deno.makeTempDir({ prefix: "vigil-test-" });
  const exportPath = `${dir}/events.json`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      MAIN,
      "run",
      "--export",
      exportPath,
      // Each agent under test gets its own API socket and token, and no policies unless asked.
      "--listen",
      `unix:${dir}/api.sock`,
      "--api-token-file",
      `${dir}/api-token`,
      ...(options.args?.includes("--policy-dir") ? [] : ["--policy-dir", ""]),
      // No workload metadata unless a test asks for a source: a containerd or Docker socket on
      // the test host would otherwise hold the events of the tests' own containers back.
      ...(options.args?.some((a) => METADATA_FLAGS.has(a)) ? [] : ["--no-metadata"]),
      ...(options.args ?? []),
    ],
    stdout: "null",
    stderr: "piped",
    ...(options.env === undefined ? {} : { env: options.env }),
  }).spawn();
  const stderrLines: string[] = [];
  let ready = false;
  const readyPromise = (async () => {
    const decoder = new TextDecoderStream();
    let partial = "";
    for await (const chunk of child.stderr.pipeThrough(decoder)) {
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        stderrLines.push(line);
        if (line.includes('"msg":"ready"')) ready = true;
      }
    }
  })();
  const deadline = Date.now() + scaled(options.readyTimeoutMs ?? 20_000);
  const status = child.status;
  let exited = false;
  status.then(() => (exited = true));
  while (!ready) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await status;
      await readyPromise;
      throw new Error(`agent did not become ready:\n${stderrLines.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  function events(): ExportedEvent[] {
    let text = "";
    try {
      text = Deno.readTextFileSync(exportPath);
    } catch {
      return [];
    }
    // Only whole lines: the exporter may be half-way through writing the last one (seen in the
    // kernel lab, where the agent runs slowly enough for a poll to land between two writes).
    return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "")
      .map((l) => JSON.parse(l));
  }

  async function stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    if (!exited) child.kill(signal);
    const { code } = await status;
    await readyPromise;
    return code;
  }

  return {
    pid: child.pid,
    exportPath,
    api: `unix:${dir}/api.sock`,
    tokenFile: `${dir}/api-token`,
    logs: () => [...stderrLines],
    events,
    async waitFor(predicate, opts = {}) {
      const count = opts.count ?? 1;
      const until = Date.now() + scaled(opts.timeoutMs ?? 10_000);
      for (;;) {
        const matched = events().filter(predicate);
        if (matched.length >= count) return matched;
        if (Date.now() > until) {
          throw new Error(
            `timed out waiting for ${count} matching event(s); have ${matched.length}`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    stop,
    async [Symbol.asyncDispose]() {
      await stop("SIGTERM");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs `cmd` with `args` to completion; returns its pid and exit status. */
export async function runProcess(
  cmd: string,
  args: string[],
  options: { cwd?: string } = {},
): Promise<{ pid: number; code: number; signal: Deno.Signal | null }> {
  const child = new Deno.Command(cmd, { args, stdout: "null", stderr: "null", ...options }).spawn();
  const status = await child.status;
  return { pid: child.pid, code: status.code, signal: status.signal };
}

/** A unique marker to find a test's own processes among the host's. */
export function marker(): string {
  return `vigil-test-${crypto.randomUUID()}`;
}
