/**
 * The composition root: wires the BPF runtime, the process object, the ring reader, the process
 * tracker and the exporter, in start order, and tears them down in reverse. No module-level state:
 * everything the agent owns hangs off the returned {@link Agent}.
 *
 * @module
 */
import { RODATA, STRUCTS } from "./bpf/abi.gen.ts";
import { BpfObject } from "./bpf/object.ts";
import { PROCESS_OBJECT } from "./bpf/objects.ts";
import { openBpfRuntime } from "./bpf/runtime.ts";
import type { BpfLink } from "./bpf/link.ts";
import { decodeRecord, decodeSeeds } from "./events/decode.ts";
import { createJsonLinesExporter } from "./export/json_lines.ts";
import type { Logger } from "./log/logger.ts";
import { ProcessTracker } from "./pipeline/process_tracker.ts";
import { createProcfsReader } from "./pipeline/procfs.ts";
import { ProcessCache } from "./process/cache.ts";
import { BootTimeFormatter, measureBootEpochNs } from "./process/format.ts";
import { RingReader } from "./ringbuf/reader.ts";
import { CgroupRegistry } from "./cgroup/registry.ts";
import { openHostHierarchy } from "./cgroup/host_hierarchy.ts";
import { scanHierarchy } from "./cgroup/scan.ts";
import { Enrichment } from "./pipeline/enrichment.ts";
import type { EmitFn, ParkingOptions } from "./pipeline/parking.ts";
import { containerIdOf } from "./pipeline/workload.ts";
import { createMetadataRegistry, type MetadataOptions } from "./metadata/mod.ts";
import { cachedProcessJson } from "./events/process_json.ts";
import {
  decodePolicyEvent,
  detachPolicyEvent,
  type PlanFacts,
  planFactsFrom,
  PolicyEngine,
  policyEventLine,
  PolicyManager,
  readHostNamespaces,
  tracefsFormatLookup,
} from "./policy/mod.ts";
import { probeKernel } from "./kernel/mod.ts";
import { createEventHub } from "./api/event_hub.ts";
import { notifyReady, notifyStopping } from "./api/notify.ts";
import { type OperatorConfig, startOperator } from "./operator.ts";
import { VERSION } from "./version.ts";

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

const PROCESS_PROGRAMS = [
  "vigil_exec",
  "vigil_fork",
  "vigil_exit",
  "vigil_cgroup_mkdir",
  "vigil_cgroup_rmdir",
] as const;
const DROPS_INDEX = 0;

const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";

/** CO-RE needs the kernel's own BTF; say so plainly instead of failing deep inside libbpf. */
function requireKernelBtf(): void {
  try {
    Deno.statSync(VMLINUX_BTF);
  } catch {
    throw new Error(
      `kernel has no BTF at ${VMLINUX_BTF}; vigil needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    );
  }
}

/** A copy of `value` with bigints as decimal strings (for JSON). */
function jsonSafe(value: object): object {
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
}

/** Starts the agent; everything created is released again if a step fails. */
export async function startAgent(config: AgentConfig): Promise<Agent> {
  const started = performance.now();
  const { logger } = config;
  const cleanups: (() => void | Promise<void>)[] = [];
  async function unwind(): Promise<void> {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        logger.warn("cleanup failed", { error: String(err) });
      }
    }
    cleanups.length = 0;
  }

  try {
    requireKernelBtf();
    const exporter = createJsonLinesExporter({
      path: config.exportPath,
      maxBytes: config.exportMaxBytes,
      maxBackups: config.exportMaxBackups,
      logger,
    });
    cleanups.push(() => exporter.close());

    // The hierarchy BPF reads cgroup ids from; both sides must agree (see src/cgroup/).
    const hierarchy = openHostHierarchy({ logger });
    cleanups.push(() => hierarchy.close());
    const selector = hierarchy.selector;
    const cgroupV1Ssid = selector.version === 1 ? selector.subsysIndex : -1;
    logger.info("cgroup hierarchy", {
      mountpoint: hierarchy.mountpoint,
      version: selector.version,
      ...(selector.version === 1
        ? { controller: selector.controller, ssid: selector.subsysIndex }
        : {}),
    });

    const rt = openBpfRuntime({ useHostLibbpf: config.useHostLibbpf, logger });
    cleanups.push(() => rt.close());
    logger.info("libbpf loaded", { version: rt.libbpfVersion, source: rt.libbpfSource });

    const object = BpfObject.load(rt, PROCESS_OBJECT, {
      name: "process.bpf.o",
      maxEntries: { events: config.ringBytes },
      rodata: (view) => {
        const cfg = RODATA["process.bpf.o"].cfg.offset;
        const ssid = STRUCTS.vigil_process_config.fields.cgroup_v1_ssid.offset;
        view.setInt32(cfg + ssid, cgroupV1Ssid, true);
      },
    });
    cleanups.push(() => object.close());

    const counters = object.map("counters");
    const ring = object.map("events");
    const reader = new RingReader(rt.libc, ring.fd, ring.maxEntries);
    cleanups.push(() => reader.close());

    const cache = new ProcessCache({ maxEntries: config.processCacheSize });
    const clock = new BootTimeFormatter(measureBootEpochNs());
    const eventsByType: Record<string, number> = { process_exec: 0, process_exit: 0 };
    const eventsByPolicy: Record<string, number> = {};
    const hub = createEventHub();
    const registry = new CgroupRegistry();
    // Every event line leaves through here: now, or later when it waited for its metadata.
    const emit: EmitFn = (type, line, policy, container) => {
      eventsByType[type] = (eventsByType[type] ?? 0) + 1;
      if (policy !== undefined) eventsByPolicy[policy] = (eventsByPolicy[policy] ?? 0) + 1;
      exporter.writeLine(line);
      hub.publish(line, { type, policy, container });
    };
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
      emit,
      flush: () => exporter.flush(),
      parking: config.parking,
      logger,
    });
    cleanups.push(() => enrichment.close());
    enrichment.start();
    const gate = enrichment.gate;
    const tracker = new ProcessTracker({
      cache,
      clock,
      nodeName: config.nodeName,
      workload: enrichment.workload,
      gate,
      emit: (type, line, container) => emit(type, line, undefined, container),
    });

    // Attach before seeding: a process or cgroup that appears in between is then seen by both.
    const links: BpfLink[] = PROCESS_PROGRAMS.map((name) => object.attach(name));
    registry.seed(await scanHierarchy(hierarchy.mountpoint));
    const iterator = object.attachIter("vigil_seed");
    const seeds = decodeSeeds(iterator.readIterator());
    iterator.close();
    const seeded = tracker.seed(seeds, createProcfsReader());

    // The policy engine shares the ring and the binaries map, so its events join the same stream.
    // Loaded on first use: an agent without policies pays neither its load nor the kernel probe.
    let engine: PolicyEngine | null = null;
    const getEngine = (): PolicyEngine => {
      if (engine) return engine;
      const loaded = PolicyEngine.load(
        rt,
        {
          events: ring.fd,
          exec_binaries: object.map("exec_binaries").fd,
          // Policy events must name the process instance the exec tracker knows.
          exec_keys: object.map("exec_keys").fd,
          counters: counters.fd,
        },
        cgroupV1Ssid,
        logger,
      );
      cleanups.push(() => loaded.close());
      loaded.ensureTracefs();
      return (engine = loaded);
    };
    let facts: PlanFacts | null = null;
    const getFacts = (): PlanFacts => {
      // tracefs must be mounted to read tracepoint formats.
      getEngine();
      return (facts ??= planFactsFrom(probeKernel(rt), {
        tracepointFormat: tracefsFormatLookup(),
        hostNamespaces: readHostNamespaces(),
      }));
    };
    const policies = new PolicyManager({
      engine: getEngine,
      facts: getFacts,
      logger,
      policyDir: config.policyDir,
    });
    cleanups.push(() => policies.close());
    if (config.policyDir !== null) await policies.loadDir(config.policyDir);

    let decodeErrors = 0;
    let unroutedPolicyEvents = 0;
    const running = reader.run((view, at, length) => {
      try {
        const record = decodeRecord(view, at, length);
        if (record.kind === "exec") tracker.onExec(record);
        else if (record.kind === "clone") tracker.onClone(record);
        else if (record.kind === "exit") tracker.onExit(record);
        else if (record.kind === "cgroup_mkdir") {
          registry.onMkdir(record.cgroupId, record.path);
          enrichment.onCgroupMkdir(record.cgroupId);
        } else if (record.kind === "cgroup_rmdir") registry.onRmdir(record.cgroupId, Date.now());
        else if (record.kind === "policy") {
          const rec = decodePolicyEvent(record.view, record.offset, record.length);
          const route = policies.route(rec.hookId);
          if (!route) {
            unroutedPolicyEvents++;
            return;
          }
          const [process, parent] = tracker.instances(rec.pid, rec.ktimeKey);
          const { info, policy } = route;
          const { nodeName } = config;
          if (gate.ready(process, parent)) {
            const line = policyEventLine(
              rec,
              info,
              process === undefined ? undefined : cachedProcessJson(process),
              parent === undefined ? undefined : cachedProcessJson(parent),
              nodeName,
              clock.format(rec.ktime),
            );
            emit(info.kind, line, policy, containerIdOf(process));
          } else {
            // Waits for the container's metadata: the arg data must outlive the ring slot.
            const kept = detachPolicyEvent(rec);
            const time = clock.format(rec.ktime);
            gate.submit({
              type: info.kind,
              policy,
              process,
              parent,
              line: (p, q) => policyEventLine(kept, info, p, q, nodeName, time),
            });
          }
        }
      } catch (err) {
        if (decodeErrors++ < 10) logger.warn("cannot decode record", { error: String(err) });
      }
    }, { afterDrain: () => exporter.flush() });
    cleanups.push(async () => {
      await reader.stop();
      await running;
      // Events still waiting for metadata leave now (with it where known, else flagged).
      enrichment.drain();
      exporter.flush();
    });

    const gc = setInterval(() => {
      cache.tick(Date.now());
      registry.tick(Date.now());
      enrichment.sweep();
    }, cache.gcIntervalMs);
    cleanups.push(() => clearInterval(gc));

    let ready = true;
    const stats = (): AgentStats => {
      const cacheStats = cache.stats();
      return {
        eventsByType: { ...eventsByType },
        decodeErrors,
        ringRecords: reader.stats.records,
        kernelDrops: counters.sumPerCpuCounters()[DROPS_INDEX] ?? 0n,
        processCacheSize: cacheStats.size,
        processCacheEvictions: cacheStats.evictions,
        unroutedPolicyEvents,
        parkedEvents: gate.parked,
      };
    };
    const operator = await startOperator({
      config: config.operator,
      logger,
      rt,
      policies,
      hub,
      health: {
        alive: () => true,
        ready: () => (ready ? { ready: true } : { ready: false, reason: "stopping" }),
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
          programs: [...PROCESS_PROGRAMS, "vigil_policy"],
          policies: policies.list().map((p) => ({
            name: p.name,
            state: p.state,
            reason: p.reason,
          })),
          stats: jsonSafe(stats()),
        }),
      },
      programs: () => [
        ...PROCESS_PROGRAMS.map((name) => ({ fd: object.programFd(name), name })),
        ...(engine
          ? engine.programFds().map((fd, i) => ({
            fd,
            name: i ? `vigil_policy#${i}` : "vigil_policy",
          }))
          : []),
      ],
      snapshot: () => {
        const s = stats();
        return {
          events: [
            ...Object.entries(eventsByType)
              .filter(([type]) => type === "process_exec" || type === "process_exit")
              .map(([type, count]) => ({ type, policy: "", count })),
            ...Object.entries(eventsByPolicy).map(([policy, count]) => ({
              type: "policy",
              policy,
              count,
            })),
          ],
          kernelFiltered: policies.hookCounters().map((h) => ({
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
          exportErrors: exporter.counters.errors,
          exportLost: exporter.counters.linesDropped,
          metadata: enrichment.metrics(),
        };
      },
    });
    cleanups.push(() => operator.close());

    const startupMs = Math.round(performance.now() - started);
    logger.info("ready", {
      programs: links.map((l) => l.program),
      seeded_processes: seeded,
      policies: policies.list().map((p) => `${p.name}:${p.state}`),
      cgroups: registry.size,
      export: config.exportPath,
      ...(operator.api ? { api: operator.api.address } : {}),
      startup_ms: startupMs,
    });
    const notified = notifyReady(`ready: ${policies.list().length} policies`);
    if (!notified.sent && "error" in notified) {
      logger.warn("systemd notify failed", { error: notified.error });
    }

    let stopping: Promise<void> | null = null;
    return {
      startupMs,
      policies,
      stats,
      reopenExport: () => exporter.reopen(),
      stop: () => {
        stopping ??= (async () => {
          ready = false;
          notifyStopping();
          const drops = counters.sumPerCpuCounters()[DROPS_INDEX] ?? 0n;
          await unwind();
          logger.info("stopped", {
            events: eventsByType,
            kernel_drops: drops.toString(),
            decode_errors: decodeErrors,
          });
        })();
        return stopping;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
