/**
 * `vigil run`: starts the agent in the foreground and runs until SIGTERM/SIGINT.
 *
 * @module
 */
import { AGENT_DEFAULTS, type AgentConfig, type BudgetConfig, startAgent } from "../agent.ts";
import { DEFAULT_API_ADDRESS } from "../api/address.ts";
import { parseCpuShare } from "../policy/vocab/cpu_share.ts";
import { parsePublicRoutes, type PublicRoute } from "../api/app.ts";
import { DEFAULT_TOKEN_FILE } from "../api/token.ts";
import { EXPORT_DEFAULTS } from "../export/json_lines.ts";
import { createLogger, type LogLevel } from "../log/logger.ts";
import { METADATA_DEFAULTS } from "../metadata/registry.ts";
import {
  defaultProcessEntries,
  hostProcesses,
  PROCESS_HEADROOM,
  PROCESS_MAX_ENTRIES,
  PROCESS_MIN_ENTRIES,
  RING_BYTES_PER_CPU,
  RING_MAX_BYTES,
  RING_MIN_BYTES,
} from "../bpf/sizing.ts";
import { PARKING_DEFAULTS } from "../workload/gate.ts";
import { type Command, parseFlags, printOut, UsageError } from "./command.ts";
import type { EngineMechanism } from "../policy/mod.ts";

const MB = 1024 * 1024;

const USAGE = `Usage: vigil run [options]

Loads the BPF programs, then writes one JSON event per line (Tetragon's export format) for every
process that starts or ends on this host. Logs JSON lines on stderr; the line with "msg":"ready"
says everything is attached. SIGTERM/SIGINT stop cleanly (drain, flush, detach, exit 0). SIGHUP
reopens the export file and reloads the policy directory; a renamed or deleted export file is
also noticed on the next write (logrotate's default rename works without SIGHUP; so does
copytruncate).

Options:
  --export FILE|-             where events go (default: ${AGENT_DEFAULTS.exportPath} for stdout)
  --policy-dir DIR            TracingPolicy files loaded at start, each on its own
                              (default: ${AGENT_DEFAULTS.policyDir}; "" loads none)
  --policy-mechanisms LIST    hook mechanisms the policy engine may use, comma-separated, of
                              fentry,kprobe,lsm,tracepoint (default: all; the planner picks
                              the cheapest one this kernel allows per hook)
  --policy-cpu-budget SHARE   CPU budget per policy, a share of one CPU averaged over a window
                              (default 10%); a policy's option vigil-cpu-budget overrides it.
                              Over budget, a policy is degraded step by step (see README)
  --policy-budget-window S    the window the budget is averaged over, seconds (default 10)
  --policy-budget-detach-enforcing
                              let the guard detach enforcement policies (Sigkill, Signal,
                              Override) that stay over budget; default: kept and reported
  --export-max-size MB        rotate the export file at this size (default ${
  EXPORT_DEFAULTS.maxBytes / MB
}; 0 = never)
  --export-max-backups N      rotated files kept as FILE.1 ... FILE.N (default ${EXPORT_DEFAULTS.maxBackups})
  --ring-buffer-size MB       kernel ring buffer size, a power of two (default: ${
  RING_BYTES_PER_CPU / MB
} MB per CPU, ${RING_MIN_BYTES / MB} to ${RING_MAX_BYTES / MB}; ${
  AGENT_DEFAULTS.ringBytes / MB
} here)
  --process-cache-size N      processes tracked, in the kernel's exec maps and in user space
                              (default: ${PROCESS_HEADROOM} x the processes running at start, ${PROCESS_MIN_ENTRIES} to ${PROCESS_MAX_ENTRIES})
  --node-name NAME            node name in events and exec ids (default: the hostname)
  --listen HOST:PORT|unix:PATH  serve the API there (default ${DEFAULT_API_ADDRESS}; "" for none)
  --api-token-file FILE       bearer token for the API; created (0600) if absent
                              (default ${DEFAULT_TOKEN_FILE})
  --api-public-routes LIST    routes readable without the token, from healthz, readyz and
                              metrics (default: all three; "" = every route needs the token).
                              Events, policies and status always need it.
  --no-bpf-stats              leave the kernel's BPF run-time statistics off (they cost a few
                              ns per program run; they feed vigil top and the run-time metrics)

  --host-libbpf               use the host's libbpf.so.1 instead of the embedded copy
                              (also VIGIL_LIBBPF=host)
  --log-level LEVEL           debug|info|warn|error (default info)
  -h, --help                  show this help

Workload metadata (the pod object, and cf on Cloud Foundry, in every event of a container):
each source is used when its socket or configuration exists (checked again every resync); a path
given here is always used (reported down while absent); "" turns that source off.
  --containerd-socket PATH    containerd API and CRI (default /run/containerd/containerd.sock)
  --docker-socket PATH        Docker Engine API (default /var/run/docker.sock)
  --garden-socket PATH        Garden API (default /var/vcap/data/garden/garden.sock)
  --kubeconfig PATH           Kubernetes API, pods of --node-name only (default: in-cluster
                              service account, else $KUBECONFIG or ~/.kube/config)
  --no-metadata               no sources: events carry only the container id and pod UID the
                              cgroup path gives, and never wait
  --metadata-resync-interval S  full resync of every source every S seconds (default ${
  METADATA_DEFAULTS.resyncIntervalMs / 1000
})
  An event of a container no enabled source knows yet waits (per container, in order) until one
  does, looked up again every --metadata-retry-delay, at most --metadata-retries times; then it
  is emitted without metadata, its process objects flagged "nometadata", and so are the
  container's later events until a source knows it.
  --metadata-retry-delay MS   between two lookups of a waiting container (default ${PARKING_DEFAULTS.retryDelayMs})
  --metadata-retries N        lookups before giving up (default ${PARKING_DEFAULTS.retries})
  --metadata-max-parked N     events waiting at most; one more emits the oldest, flagged
                              (default ${PARKING_DEFAULTS.maxEvents})`;

const LOG_LEVELS = new Set(["debug", "info", "warn", "error"]);

function positiveInt(flag: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`vigil run: --${flag} must be an integer ≥ ${min}, got '${value}'`);
  }
  return n;
}

/** Builds the agent config from flags; throws {@link UsageError} naming the bad flag. */
export function configFromFlags(argv: string[]): AgentConfig | "help" {
  const { values } = parseFlags("run", argv, {
    export: { type: "string" },
    "policy-dir": { type: "string" },
    "policy-mechanisms": { type: "string" },
    "policy-cpu-budget": { type: "string" },
    "policy-budget-window": { type: "string" },
    "policy-budget-detach-enforcing": { type: "boolean" },
    "export-max-size": { type: "string" },
    "export-max-backups": { type: "string" },
    "ring-buffer-size": { type: "string" },
    "process-cache-size": { type: "string" },
    "node-name": { type: "string" },
    "host-libbpf": { type: "boolean" },
    listen: { type: "string" },
    "api-token-file": { type: "string" },
    "api-public-routes": { type: "string" },
    "no-bpf-stats": { type: "boolean" },
    "log-level": { type: "string" },
    "containerd-socket": { type: "string" },
    "docker-socket": { type: "string" },
    "garden-socket": { type: "string" },
    kubeconfig: { type: "string" },
    "no-metadata": { type: "boolean" },
    "metadata-resync-interval": { type: "string" },
    "metadata-retry-delay": { type: "string" },
    "metadata-retries": { type: "string" },
    "metadata-max-parked": { type: "string" },
  });
  if (values.help) return "help";
  const level = values["log-level"] ?? "info";
  if (!LOG_LEVELS.has(level)) {
    throw new UsageError(`vigil run: --log-level must be one of debug, info, warn, error`);
  }
  const ringMb = positiveInt(
    "ring-buffer-size",
    values["ring-buffer-size"],
    AGENT_DEFAULTS.ringBytes / MB,
  );
  if ((ringMb & (ringMb - 1)) !== 0) {
    throw new UsageError(
      `vigil run: --ring-buffer-size must be a power of two (MB), got ${ringMb}`,
    );
  }
  const host = hostProcesses();
  const nodeName = values["node-name"] ?? Deno.hostname();
  return {
    nodeName,
    exportPath: values.export ?? AGENT_DEFAULTS.exportPath,
    exportMaxBytes: positiveInt(
      "export-max-size",
      values["export-max-size"],
      EXPORT_DEFAULTS.maxBytes / MB,
      0,
    ) * MB,
    exportMaxBackups: positiveInt(
      "export-max-backups",
      values["export-max-backups"],
      EXPORT_DEFAULTS.maxBackups,
      0,
    ),
    ringBytes: ringMb * MB,
    policyDir: policyDir(values["policy-dir"]),
    ...policyMechanisms(values["policy-mechanisms"]),
    budget: budgetConfig(values),
    processCacheSize: positiveInt(
      "process-cache-size",
      values["process-cache-size"],
      defaultProcessEntries(host.live, host.pidMax),
    ),
    useHostLibbpf: values["host-libbpf"] === true || Deno.env.get("VIGIL_LIBBPF") === "host",
    metadata: metadataConfig(values),
    parking: {
      retryDelayMs: positiveInt(
        "metadata-retry-delay",
        values["metadata-retry-delay"],
        PARKING_DEFAULTS.retryDelayMs,
      ),
      retries: positiveInt(
        "metadata-retries",
        values["metadata-retries"],
        PARKING_DEFAULTS.retries,
      ),
      maxEvents: positiveInt(
        "metadata-max-parked",
        values["metadata-max-parked"],
        PARKING_DEFAULTS.maxEvents,
      ),
    },
    operator: {
      listen: values.listen === "" ? null : values.listen ?? DEFAULT_API_ADDRESS,
      apiTokenFile: values["api-token-file"] ?? DEFAULT_TOKEN_FILE,
      ...publicRoutes(values["api-public-routes"]),
      bpfStats: values["no-bpf-stats"] !== true,
    },
    logger: createLogger({ level: level as LogLevel }),
  };
}

function publicRoutes(value: string | undefined): { apiPublicRoutes?: PublicRoute[] } {
  if (value === undefined) return {};
  try {
    return { apiPublicRoutes: parsePublicRoutes(value) };
  } catch (err) {
    throw new UsageError(`vigil run: --api-public-routes: ${(err as Error).message}`);
  }
}

/** An explicit socket path: always used; "" turns the source off; absent: auto-detected. */
function socketSource(
  value: string | undefined,
): { socketPath?: string; enabled?: true } | false {
  if (value === undefined) return {};
  if (value === "") return false;
  return { socketPath: value, enabled: true };
}

/** The metadata flags of `vigil run`. */
interface MetadataFlags {
  readonly "no-metadata"?: boolean;
  readonly "containerd-socket"?: string;
  readonly "docker-socket"?: string;
  readonly "garden-socket"?: string;
  readonly kubeconfig?: string;
  readonly "metadata-resync-interval"?: string;
}

function metadataConfig(values: MetadataFlags): AgentConfig["metadata"] {
  const paths = ["containerd-socket", "docker-socket", "garden-socket", "kubeconfig"] as const;
  if (values["no-metadata"] === true) {
    const given = paths.filter((f) => values[f] !== undefined);
    if (given.length > 0) {
      throw new UsageError(`vigil run: --no-metadata contradicts --${given[0]}`);
    }
    return null;
  }
  const kubeconfig = values.kubeconfig;
  return {
    containerd: socketSource(values["containerd-socket"]),
    docker: socketSource(values["docker-socket"]),
    garden: socketSource(values["garden-socket"]),
    kubernetes: kubeconfig === undefined
      ? {}
      : kubeconfig === ""
      ? false
      : { kubeconfig, enabled: true },
    resyncIntervalMs: positiveInt(
      "metadata-resync-interval",
      values["metadata-resync-interval"],
      METADATA_DEFAULTS.resyncIntervalMs / 1000,
    ) * 1000,
  };
}

const MECHANISM_FLAG_VALUES = ["fentry", "kprobe", "lsm", "tracepoint"] as const;

function policyMechanisms(
  value: string | undefined,
): { policyMechanisms?: readonly EngineMechanism[] } {
  if (value === undefined) return {};
  const list = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const m of list) {
    if (!(MECHANISM_FLAG_VALUES as readonly string[]).includes(m)) {
      throw new UsageError(
        `vigil run: --policy-mechanisms: unknown mechanism '${m}' (choose from ${
          MECHANISM_FLAG_VALUES.join(", ")
        })`,
      );
    }
  }
  if (list.length === 0) throw new UsageError("vigil run: --policy-mechanisms is empty");
  return { policyMechanisms: list as EngineMechanism[] };
}

function policyDir(value: string | undefined): string | null {
  if (value === "") return null;
  const dir = value ?? AGENT_DEFAULTS.policyDir;
  try {
    if (!Deno.statSync(dir).isDirectory) {
      throw new UsageError(`vigil run: --policy-dir ${dir} is not a directory`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // The default may be absent (a binary installed elsewhere); an explicit one must exist.
    if (value === undefined) return null;
    throw new UsageError(
      `vigil run: --policy-dir ${dir}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return dir;
}

/** Resolves when SIGTERM or SIGINT arrives. */
function untilSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        for (const [i, s] of signals.entries()) Deno.removeSignalListener(s, handlers[i]!);
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return handler;
    });
  });
}

/** The `run` verb. */
export const runCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const config = configFromFlags(argv);
    if (config === "help") {
      printOut(USAGE);
      return 0;
    }
    const signal = untilSignal();
    let agent;
    try {
      agent = await startAgent(config);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // One line: the JSON log line carries the whole message (with a verifier tail if any).
      config.logger.error("start failed", { error: message });
      return 1;
    }
    // SIGHUP reopens the export file (after log rotation) and re-reads the policy directory
    // (each file atomically replaces its running version).
    const onHup = () => {
      config.logger.info("SIGHUP: reloading policies");
      agent.reopenExport();
      agent.policies.reload().then(
        (r) =>
          config.logger.info("policies reloaded", {
            policies: r.policies.length,
            errors: r.errors.length,
          }),
        (err) => config.logger.error("policy reload failed", { error: String(err) }),
      );
    };
    Deno.addSignalListener("SIGHUP", onHup);
    const received = await signal;
    Deno.removeSignalListener("SIGHUP", onHup);
    config.logger.info("stopping", { signal: received });
    await agent.stop();
    return 0;
  },
};

/** The CPU-budget flags of `vigil run`. */
interface BudgetFlags {
  readonly "policy-cpu-budget"?: string;
  readonly "policy-budget-window"?: string;
  readonly "policy-budget-detach-enforcing"?: boolean;
}

function budgetConfig(values: BudgetFlags): BudgetConfig {
  const text = values["policy-cpu-budget"];
  let cpuBudget: number | undefined;
  if (text !== undefined) {
    const share = parseCpuShare(text);
    if (typeof share === "string") throw new UsageError(`vigil run: --policy-cpu-budget: ${share}`);
    cpuBudget = share;
  }
  const window = values["policy-budget-window"];
  let windowMs: number | undefined;
  if (window !== undefined) {
    const seconds = Number(window);
    if (!Number.isFinite(seconds) || seconds < 0.2 || seconds > 3600) {
      throw new UsageError(
        `vigil run: --policy-budget-window: ${JSON.stringify(window)} is not a number of ` +
          `seconds from 0.2 to 3600`,
      );
    }
    windowMs = seconds * 1000;
  }
  return {
    ...(cpuBudget === undefined ? {} : { cpuBudget }),
    ...(windowMs === undefined ? {} : { windowMs }),
    detachEnforcing: values["policy-budget-detach-enforcing"] === true,
  };
}
