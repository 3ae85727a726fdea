/**
 * `vigil events`: follows the running agent's event stream (NDJSON), raw or one readable line
 * per event (`--compact`, like `tetra getevents -o compact`).
 *
 * @module
 */
import { API_FLAGS, API_FLAGS_USAGE, ApiClient, ApiError } from "./api_client.ts";
import { type Command, parseFlags, printOut } from "./command.ts";

const USAGE = `Usage: vigil events [options]

Follows the running agent's events, one JSON object per line (Tetragon's export format), until
interrupted. The agent drops a client that falls too far behind; this command then exits 1.

Options:
  --compact                 one readable line per event:
                              🚀 process [container] /usr/bin/curl https://example.org
                              💥 exit    [container] /usr/bin/curl https://example.org 0
                              🔎 policy  etc-sensitive-reads /usr/bin/cat security_file_permission /etc/shadow
  --type T                  only events of type T (e.g. process_exec; repeat or comma-separate)
  --policy P                only events of policy P (repeatable)
  --container C             only events of container C (repeatable)
${API_FLAGS_USAGE}
  -h, --help                show this help`;

type Json = Record<string, unknown>;

function obj(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Json
    : undefined;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : typeof value === "number" ? String(value) : "";
}

/** Escapes control characters so event text can never drive the terminal. */
function safe(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

function where(process: Json | undefined): string {
  const pod = obj(process?.pod);
  if (pod) return `${str(pod.namespace)}/${str(pod.name)}`;
  const docker = str(process?.docker);
  return docker ? `[${docker.slice(0, 12)}]` : "";
}

function argText(arg: unknown): string {
  const a = obj(arg);
  if (a === undefined) return str(arg);
  const value = Object.values(a)[0];
  const inner = obj(value);
  if (inner === undefined) return Array.isArray(value) ? value.map(str).join(",") : str(value);
  if (typeof inner.path === "string") return inner.path;
  if (inner.daddr !== undefined) {
    return `${str(inner.saddr)}:${str(inner.sport)} -> ${str(inner.daddr)}:${str(inner.dport)}`;
  }
  if (typeof inner.name === "string") return inner.name;
  return JSON.stringify(inner);
}

function join(parts: readonly string[]): string {
  return safe(parts.filter((p) => p !== "").join(" "));
}

/**
 * One readable line for an export line: an emoji, the kind, then the process and what happened.
 * Lines that are not JSON objects are returned as they are (escaped).
 *
 * @example
 * ```ts
 * compactEvent('{"process_exec":{"process":{"binary":"/bin/true","arguments":"x"}}}');
 * // "🚀 process /bin/true x"
 * ```
 */
export function compactEvent(line: string): string {
  let event: Json | undefined;
  try {
    event = obj(JSON.parse(line));
  } catch {
    event = undefined;
  }
  if (event === undefined) return safe(line);
  const type = Object.keys(event).find((k) => k.startsWith("process_"));
  const body = type === undefined ? undefined : obj(event[type]);
  const process = obj(body?.process);
  const proc = [where(process), str(process?.binary), str(process?.arguments)];
  switch (type) {
    case "process_exec":
      return `🚀 ${join(["process", ...proc])}`;
    case "process_exit": {
      const signal = str(body?.signal);
      const code = signal !== "" ? signal : str(body?.status) || "0";
      return `💥 ${join(["exit   ", ...proc, code])}`;
    }
    case undefined:
      return `❓ ${safe(line.slice(0, 200))}`;
    default: {
      const hook = str(body?.function_name) ||
        [str(body?.subsys), str(body?.event)].filter((s) => s !== "").join("/");
      const args = Array.isArray(body?.args) ? body.args.map(argText) : [];
      const action = str(body?.action).replace(/^KPROBE_ACTION_/, "").toLowerCase();
      return `🔎 ${
        join([
          "policy ",
          str(body?.policy_name) || type,
          where(process),
          str(process?.binary),
          hook,
          ...args,
          action !== "" && action !== "post" ? `[${action}]` : "",
        ])
      }`;
    }
  }
}

function listFlag(value: unknown): string[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String);
}

/** The `events` verb. */
export const eventsCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags("events", argv, {
      ...API_FLAGS,
      compact: { type: "boolean" },
      type: { type: "string", multiple: true },
      policy: { type: "string", multiple: true },
      container: { type: "string", multiple: true },
    });
    if (values.help) {
      printOut(USAGE);
      return 0;
    }
    const query = new URLSearchParams();
    for (const t of listFlag(values.type)) query.append("type", t);
    for (const p of listFlag(values.policy)) query.append("policy", p);
    for (const c of listFlag(values.container)) query.append("container", c);
    const qs = query.size > 0 ? `?${query}` : "";
    using client = ApiClient.fromFlags(values);
    const stop = new AbortController();
    const res = await client.request("GET", `/events${qs}`, { signal: stop.signal });
    if (!res.ok || res.body === null) {
      const text = await res.text();
      let body: unknown = undefined;
      try {
        body = JSON.parse(text);
      } catch { /* not JSON */ }
      throw client.errorFrom(res.status, body);
    }
    const out = Deno.stdout;
    const encoder = new TextEncoder();
    let pending = "";
    try {
      for await (const chunk of res.body.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        if (lines.length === 0) continue;
        const text = values.compact ? lines.map(compactEvent).join("\n") : lines.join("\n");
        await writeAll(out, encoder.encode(text + "\n"));
      }
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) return 0; // `vigil events | head`
      stop.abort();
      throw new ApiError(
        `the event stream from ${client.address} was cut (the agent drops clients that fall ` +
          `too far behind): ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`,
      );
    }
    throw new ApiError(`the agent at ${client.address} ended the event stream (shutting down?)`);
  },
};

async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let at = 0;
  while (at < data.length) at += await w.write(data.subarray(at));
}
