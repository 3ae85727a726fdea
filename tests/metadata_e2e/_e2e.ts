/**
 * Shared pieces of the workload-metadata end-to-end tests: the real agent (`main.ts run`), a
 * private containerd (`tests/metadata/_containerd.ts`), runc containers in kubepods-shaped
 * cgroups (`tests/_helpers/runc.ts`), the fork-heavy C workload, and the agent's API.
 *
 * @module
 */
import type { AgentUnderTest, ExportedEvent } from "../_helpers/agent_process.ts";
import { requires } from "../_helpers/requires.ts";
import { run } from "../metadata/_containerd.ts";

export const T = { sanitizeOps: false, sanitizeResources: false };

/** Test options: ignored, with the reason in the name, when the real pieces cannot run here. */
export function e2eTest(name: string): { name: string; ignore: boolean } {
  return requires(name, "root", "containerd", "runc", "cc");
}

export function hex64(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `f` every 100 ms until it is true; throws `what` after `ms`. */
export async function until(
  what: string,
  ms: number,
  f: () => Promise<boolean> | boolean,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms: ${what}`);
}

/** `GET path` on the agent's API socket; the body as text. */
export async function apiGet(agent: AgentUnderTest, path: string): Promise<string> {
  const client = Deno.createHttpClient({
    proxy: { transport: "unix", path: agent.api.slice("unix:".length) },
  });
  try {
    const token = (await Deno.readTextFile(agent.tokenFile)).trim();
    const res = await fetch(`http://vigil${path}`, {
      client,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    return await res.text();
  } finally {
    client.close();
  }
}

// deno-lint-ignore no-explicit-any
export async function agentStatus(agent: AgentUnderTest): Promise<any> {
  return JSON.parse(await apiGet(agent, "/status"));
}

/** Value of one sample of `/metrics` (`name{labels}`), or undefined when absent. */
export function metric(text: string, sample: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(sample + " ")) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/** Waits until the agent reports its containerd source `up`. */
export async function untilSourceUp(agent: AgentUnderTest, ms = 20_000): Promise<void> {
  await until("containerd source up", ms, async () => {
    const s = await agentStatus(agent);
    return s.metadata?.sources?.containerd?.state === "up";
  });
}

/** Compiles `forker.c` into `dir`; returns the executable's path. */
export async function buildForker(dir: string): Promise<string> {
  const out = `${dir}/forker`;
  const src = new URL("./forker.c", import.meta.url).pathname;
  const r = await run("cc", ["-O2", "-Wall", "-o", out, src]);
  if (r.code !== 0) throw new Error(`cc forker.c: ${r.stderr}`);
  return out;
}

/** A policy directory with only the file-deletion policy. */
export async function fileDeletionPolicyDir(dir: string): Promise<string> {
  const policies = `${dir}/policies`;
  await Deno.mkdir(policies, { recursive: true });
  await Deno.copyFile(
    new URL("../../policies/file_deletion.yaml", import.meta.url).pathname,
    `${policies}/file_deletion.yaml`,
  );
  return policies;
}

/** The process object of any event kind. */
// deno-lint-ignore no-explicit-any
export function processOf(e: ExportedEvent): any {
  const body = Object.values(e).find((v) => typeof v === "object" && v !== null && "process" in v);
  // deno-lint-ignore no-explicit-any
  return (body as any)?.process;
}

export function kindOf(e: ExportedEvent): string {
  return Object.keys(e).find((k) => k !== "node_name" && k !== "time") ?? "";
}

export function flagsOf(process: { flags?: string } | undefined): string[] {
  return (process?.flags ?? "").split(" ").filter((f) => f !== "");
}

/** Labels kubelet puts on a pod's containers (and the sandbox's kind label). */
export function kubeletLabels(
  pod: { namespace: string; name: string; uid: string },
  container: string | null,
): Record<string, string> {
  return {
    "io.kubernetes.pod.namespace": pod.namespace,
    "io.kubernetes.pod.name": pod.name,
    "io.kubernetes.pod.uid": pod.uid,
    ...(container === null
      ? { "io.cri-containerd.kind": "sandbox" }
      : { "io.cri-containerd.kind": "container", "io.kubernetes.container.name": container }),
  };
}
