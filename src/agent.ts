/**
 * The composition root: wiring only, in named steps run in start order (the export, the kernel
 * side in `agent/kernel.ts`, the record pipeline, the policies in `agent/policies.ts`, the
 * operator surface), torn down in reverse by one cleanup stack (`agent/cleanups.ts`). Records
 * flow through `src/pipeline/` (decode once, a handler per kind, one exit), not through here. No
 * module-level state: everything the agent owns hangs off the returned {@link Agent}.
 *
 * @module
 */
import { PROCESS_PROGRAMS } from "./bpf/objects.ts";
import { bytesByOwner, type MapMemory, mapMemory } from "./bpf/map_memory.ts";
import { defaultRingBytes } from "./bpf/sizing.ts";
import type { BpfLink } from "./bpf/link.ts";
import { decodeSeeds } from "./events/decode.ts";
import { createJsonLinesExporter, type JsonLinesExporter } from "./export/json_lines.ts";
import type { Logger } from "./log/logger.ts";
import { PROCESS_EVENT_TYPES, ProcessTracker } from "./pipeline/process_tracker.ts";
import { EventOut } from "./pipeline/out.ts";
import { recordHandlers, RecordPipeline } from "./pipeline/pipeline.ts";
import { PolicyEvents } from "./pipeline/policy_events.ts";
import { createProcfsReader } from "./process/procfs.ts";
import { ProcessCache } from "./process/cache.ts";
import { BootTimeFormatter, measureBootEpochNs } from "./process/format.ts";
import { CgroupRegistry } from "./cgroup/registry.ts";
import { scanHierarchy } from "./cgroup/scan.ts";
import { Enrichment } from "./workload/enrichment.ts";
import type { ParkingOptions } from "./workload/gate.ts";
import { createMetadataRegistry, type MetadataOptions } from "./metadata/mod.ts";
import { type EngineMechanism, ENTRY_PROGRAMS, type PolicyManager } from "./policy/mod.ts";
import { probeKernel } from "./kernel/mod.ts";
import { createEventHub } from "./api/event_hub.ts";
import type { EventHub } from "./api/types.ts";
import { notifyReady, notifyStopping } from "./api/notify.ts";
import { type Operator, type OperatorConfig, startOperator } from "./operator.ts";
import { Cleanups } from "./agent/cleanups.ts";
import { type Kernel, openKernel, requireKernelBtf } from "./agent/kernel.ts";
import { hasPolicyFiles } from "./policy/spec/load_dir.ts";
import { type BudgetConfig, type Policies, startPolicies } from "./agent/policies.ts";
import { settleMemory } from "./agent/settle.ts";
import { VERSION } from "./version.ts";
import { GUARD_EVENT_TYPES } from "./policy/runtime/budget_guard.ts";

export type { BudgetConfig } from "./agent/policies.ts";

/** Everything `vigil run` decides before starting. */
export interface AgentConfig {
  readonly nodeName: string;
  /** Export target: a file path or "-" for stdout. */
  readonly exportPath: string;
  readonly exportMaxBytes: number;
  readonly exportMaxBackups: number;
  /** Ring buffer data size in bytes (power of two). */
  readonly ringBytes: number;
  readonly useHostLibbpf: boolean;
  readonly processCacheSize: number;
  /** TracingPolicy directory loaded at start; null: none. */
  readonly policyDir: string | null;
  /** Hook mechanisms the policy engine may use (default: every one the table has a program for). */
  readonly policyMechanisms?: readonly EngineMechanism[];
  /** Per-policy CPU budget guard (`--policy-cpu-budget`, `--policy-budget-window`, ...). */
  readonly budget?: BudgetConfig;
  /**
   * Workload metadata sources (each auto-detected unless configured or `false`); null: none
   * (`--no-metadata`), events carry only what the cgroup path says and never wait.
   */
  readonly metadata: Omit<MetadataOptions, "logger"> | null;
  /** How long events wait for their workload metadata, and how many at most. */
  readonly parking?: ParkingOptions;
  /** API, statistics. */
  readonly operator: OperatorConfig;
  readonly logger: Logger;
}

/** The defaults `vigil run` starts the agent with (each component keeps its own). */
export const AGENT_DEFAULTS = {
  /** Export target. */
  exportPath: "-",
  /** Ring buffer data size: 2 MiB per CPU, 4 to 32 MiB (src/bpf/sizing.ts). */
  ringBytes: defaultRingBytes(navigator.hardwareConcurrency),
  /** TracingPolicy directory, relative to the working directory (skipped when absent). */
  policyDir: "policies",
} as const;

/** Live counters of a running agent. */
export interface AgentStats {
  readonly eventsByType: Readonly<Record<string, number>>;
  readonly decodeErrors: number;
  readonly ringRecords: number;
  /** Records the kernel could not reserve (ring full), from the per-CPU counter. */
  readonly kernelDrops: bigint;
  readonly processCacheSize: number;
  readonly processCacheEvictions: number;
  /** Policy records whose hook was already gone. */
  readonly unroutedPolicyEvents: number;
  /** Exit records of processes the agent never saw (exported with what the record says). */
  readonly unknownExits: number;
  /** Events waiting for workload metadata now. */
  readonly parkedEvents: number;
}

/** A running agent. */
export interface Agent {
  /** Milliseconds from start call to ready. */
  readonly startupMs: number;
  /** The loaded TracingPolicies. */
  readonly policies: PolicyManager;
  stats(): AgentStats;
  /** Reopens the export file if it was rotated away (SIGHUP); never throws. */
  reopenExport(): void;
  /** Stops cleanly: drains the ring, flushes output, detaches everything. Idempotent. */
  stop(): Promise<void>;
}

const DROPS_INDEX = 0;

/** A copy of `value` with bigints as decimal strings (for JSON). */
function jsonSafe(value: object): object {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
}

/** Where events leave: the export file (or stdout) and the API's event hub, behind one exit. */
interface Output {
  readonly exporter: JsonLinesExporter;
  readonly hub: EventHub;
  readonly out: EventOut;
}

function openOutput(config: AgentConfig, cleanups: Cleanups): Output {
  const exporter = createJsonLinesExporter({
    path: config.exportPath,
    maxBytes: config.exportMaxBytes,
    maxBackups: config.exportMaxBackups,
    logger: config.logger,
  });
  cleanups.push(() => exporter.close());
  const hub = createEventHub();
  const own = [...PROCESS_EVENT_TYPES, ...GUARD_EVENT_TYPES];
  return { exporter, hub, out: new EventOut(exporter, hub, own) };
}

/** The record consumers: process cache and tracker, cgroups, workload enrichment and its gate. */
interface Pipeline {
  readonly cache: ProcessCache;
  readonly clock: BootTimeFormatter;
  readonly registry: CgroupRegistry;
  readonly enrichment: Enrichment;
  readonly tracker: ProcessTracker;
  readonly links: readonly BpfLink[];
  /** Processes found running at start. */
  readonly seeded: number;
}

/** Builds the consumers, attaches the process programs and seeds what already runs. */
async function startPipeline(
  config: AgentConfig,
  kernel: Kernel,
  output: Output,
  cleanups: Cleanups,
): Promise<Pipeline> {
  const { logger } = config;
  const { out } = output;
  const cache = new ProcessCache({ maxEntries: config.processCacheSize });
  const clock = new BootTimeFormatter(measureBootEpochNs());
  const registry = new CgroupRegistry();
  // Workload metadata: sources start in the background; nothing here waits for them.
  const metadataOptions = config.metadata;
  const enrichment = new Enrichment({
    registry,
    metadata: metadataOptions === null ? null : createMetadataRegistry({
      ...metadataOptions,
      kubernetes: metadataOptions.kubernetes === false
        ? false
        : { nodeName: config.nodeName, ...metadataOptions.kubernetes },
      logger,
    }),
    out,
    parking: config.parking,
    logger,
  });
  cleanups.push(() => enrichment.close());
  enrichment.start();
  const tracker = new ProcessTracker({
    cache,
    clock,
    nodeName: config.nodeName,
    workload: enrichment.workload,
    gate: enrichment.gate,
  });

  // Attach before seeding: a process or cgroup that appears in between is then seen by both.
  const { object, hierarchy } = kernel;
  const links = PROCESS_PROGRAMS.map((name) => object.attach(name));
  registry.seed(await scanHierarchy(hierarchy.mountpoint));
  const iterator = object.attachIter("vigil_seed");
  const seeds = decodeSeeds(iterator.readIterator());
  iterator.close();
  const seeded = tracker.seed(seeds, createProcfsReader());
  return { cache, clock, registry, enrichment, tracker, links, seeded };
}

/** The parts started so far, for the last steps. */
interface Parts {
  readonly config: AgentConfig;
  readonly output: Output;
  readonly kernel: Kernel;
  readonly pipeline: Pipeline;
  readonly policies: Policies;
}

/** The record loop: every ring record through the pipeline, the exporter flushed after each drain. */
function readRecords(
  { config, kernel, output, pipeline, policies }: Parts,
  cleanups: Cleanups,
): { records: RecordPipeline; policyEvents: PolicyEvents } {
  const { reader } = kernel;
  const { out } = output;
  const { cache, clock, registry, enrichment, tracker } = pipeline;
  const policyEvents = new PolicyEvents({
    routes: policies.manager,
    processes: tracker,
    gate: enrichment.gate,
    clock,
    nodeName: config.nodeName,
    userTime: policies.userTime,
  });
  const records = new RecordPipeline(
    recordHandlers({ processes: tracker, cgroups: registry, enrichment, policies: policyEvents }),
    config.logger,
  );
  const running = reader.run(records.onRecord, { afterDrain: () => out.flush() });
  cleanups.push(async () => {
    await reader.stop();
    await running;
    // Events still waiting for metadata leave now (with it where known, else flagged).
    enrichment.drain();
    out.flush();
  });

  const gc = setInterval(() => {
    cache.tick(Date.now());
    registry.tick(Date.now());
    enrichment.sweep();
    // Policy loads since the last pass left libbpf's freed BTF parses in the C heap.
    kernel.rt.libc.malloc_trim(0n);
  }, cache.gcIntervalMs);
  cleanups.push(() => clearInterval(gc));
  return { records, policyEvents };
}

/** Metrics, BPF statistics, `/status`, health and the HTTP API. */
async function serveOperator(
  { config, kernel, output, pipeline, policies }: Parts,
  stats: () => AgentStats,
  ready: () => boolean,
  cleanups: Cleanups,
): Promise<Operator> {
  const { rt, hierarchy, object } = kernel;
  const { registry, enrichment } = pipeline;
  const { manager } = policies;
  // Kernel memory of every map vigil holds: the process object's (shared ones included) and the
  // policy engine's own (hooks, sets, counters: shared by all policies).
  const kernelMaps = (): MapMemory[] => {
    const engine = policies.engine();
    return mapMemory([
      { owner: "process", maps: object.maps() },
      ...(engine ? [{ owner: "policy", maps: engine.maps() }] : []),
    ]);
  };
  const operator = await startOperator({
    config: config.operator,
    logger: config.logger,
    rt,
    policies: manager,
    hub: output.hub,
    health: {
      alive: () => true,
      ready: () => (ready() ? { ready: true } : { ready: false, reason: "stopping" }),
    },
    status: {
      status: () => ({
        version: VERSION,
        node_name: config.nodeName,
        libbpf: { version: rt.libbpfVersion, source: rt.libbpfSource },
        kernel: probeKernel(rt),
        cgroup: {
          mountpoint: hierarchy.mountpoint,
          selector: hierarchy.selector,
          decision: hierarchy.decision.log,
          cgroups: registry.size,
          containers: registry.containers().length,
        },
        metadata: enrichment.status(),
        programs: [...PROCESS_PROGRAMS, ...ENTRY_PROGRAMS.flatMap((p) => p.names)],
        kernel_map_memory: (() => {
          const maps = kernelMaps();
          const bytes = maps.reduce((a, m) => a + m.bytes, 0);
          return { bytes, by_owner: bytesByOwner(maps), maps };
        })(),
        policies: manager.list().map((p) => ({ name: p.name, state: p.state, reason: p.reason })),
        stats: jsonSafe(stats()),
      }),
    },
    programs: () => [
      ...PROCESS_PROGRAMS.map((name) => ({ fd: object.programFd(name), name })),
      ...(policies.engine()?.programs() ?? []),
    ],
    snapshot: () => {
      const s = stats();
      return {
        events: output.out.counts(),
        kernelFiltered: manager.hookCounters().map((h) => ({
          policy: h.policy,
          hook: h.hook,
          count: h.counters.filtered,
        })),
        ringRecords: s.ringRecords,
        ringLost: Number(s.kernelDrops),
        decodeErrors: s.decodeErrors,
        processCache: {
          size: s.processCacheSize,
          capacity: config.processCacheSize,
          evictions: s.processCacheEvictions,
        },
        kernelMapBytes: kernelMaps().map((m) => ({ owner: m.owner, map: m.name, bytes: m.bytes })),
        exportErrors: output.exporter.counters.errors,
        exportLost: output.exporter.counters.linesDropped,
        metadata: enrichment.metrics(),
      };
    },
  });
  cleanups.push(() => operator.close());
  return operator;
}

/** Starts the agent; everything created is released again if a step fails. */
export async function startAgent(config: AgentConfig): Promise<Agent> {
  const started = performance.now();
  const { logger } = config;
  const cleanups = new Cleanups(logger);
  try {
    requireKernelBtf();
    const output = openOutput(config, cleanups);
    const kernel = await openKernel(
      { ...config, engineBeside: await hasPolicyFiles(config.policyDir) },
      cleanups,
    );
    const pipeline = await startPipeline(config, kernel, output, cleanups);
    const policies = await startPolicies(config, kernel, output.out, cleanups);
    const parts: Parts = { config, output, kernel, pipeline, policies };
    const { records, policyEvents } = readRecords(parts, cleanups);

    let ready = true;
    const stats = (): AgentStats => {
      const cacheStats = pipeline.cache.stats();
      return {
        eventsByType: output.out.byType(),
        decodeErrors: records.decodeErrors,
        ringRecords: kernel.reader.stats.records,
        kernelDrops: kernel.counters.sumPerCpuCounters()[DROPS_INDEX] ?? 0n,
        processCacheSize: cacheStats.size,
        processCacheEvictions: cacheStats.evictions,
        unroutedPolicyEvents: policyEvents.unrouted,
        unknownExits: pipeline.tracker.unknownExits,
        parkedEvents: pipeline.enrichment.gate.parked,
      };
    };
    const operator = await serveOperator(parts, stats, () => ready, cleanups);

    const { manager } = policies;
    const startupMs = Math.round(performance.now() - started);
    logger.info("ready", {
      programs: pipeline.links.map((l) => l.program),
      seeded_processes: pipeline.seeded,
      policies: manager.list().map((p) => `${p.name}:${p.state}`),
      cgroups: pipeline.registry.size,
      export: config.exportPath,
      ...(operator.api ? { api: operator.api.address } : {}),
      startup_ms: startupMs,
    });
    const notified = notifyReady(`ready: ${manager.list().length} policies`);
    if (!notified.sent && "error" in notified) {
      logger.warn("systemd notify failed", { error: notified.error });
    }
    // Loading parsed the kernel's BTF once per object (tens of MiB, freed) and left JS garbage:
    // collect it and return the freed pages to the OS, after ready (the first events need none
    // of it; the collection takes tens of ms). The kernel probe's links are detached first.
    let settling = true;
    const settle = setTimeout(() => {
      policies.releaseProbes();
      void settleMemory(() => {
        // The collector's module loads asynchronously: the agent may have stopped meanwhile.
        if (settling) kernel.rt.libc.malloc_trim(0n);
      });
    }, 0);
    cleanups.push(() => {
      settling = false;
      clearTimeout(settle);
    });

    let stopping: Promise<void> | null = null;
    return {
      startupMs,
      policies: manager,
      stats,
      reopenExport: () => output.exporter.reopen(),
      stop: () => {
        stopping ??= (async () => {
          ready = false;
          notifyStopping();
          const drops = kernel.counters.sumPerCpuCounters()[DROPS_INDEX] ?? 0n;
          await cleanups.unwind();
          logger.info("stopped", {
            events: output.out.byType(),
            kernel_drops: drops.toString(),
            decode_errors: records.decodeErrors,
          });
        })();
        return stopping;
      },
    };
  } catch (err) {
    await cleanups.unwind();
    throw err;
  }
}
