/**
 * vigil's metric families (prefix `vigil_`), fed at scrape time from the agent's own counters, so
 * the event path pays nothing for them. The agent passes one `snapshot()` callback (called once
 * per scrape) and the BPF program statistics; the API registers its own request and stream
 * families (see `src/api/app.ts`).
 *
 * @module
 */
import type { ProgramStat, ProgramStats } from "./bpf_stats.ts";
import type { BudgetState, PolicyStatus } from "../policy/status.ts";
import type { MetricsRegistry, Sample, SampleValue } from "./registry.ts";

/** Values of `vigil_build_info`. */
export interface BuildInfo {
  readonly version: string;
  readonly deno: string;
  readonly libbpf: string;
}

/** The agent's counters at one scrape. Every field is optional; absent means "no samples". */
export interface VigilMetricsSnapshot {
  /** Events exported, by type and policy ("" for the process lifecycle events). */
  readonly events?: Iterable<{ type: string; policy: string; count: SampleValue }>;
  /** Events dropped by in-kernel selectors, per policy and hook. */
  readonly kernelFiltered?: Iterable<{ policy: string; hook: string; count: SampleValue }>;
  /** Records read from the ring buffer. */
  readonly ringRecords?: SampleValue;
  /** Records the kernel could not reserve because the ring buffer was full. */
  readonly ringLost?: SampleValue;
  /** Other kernel-side losses, by reason (e.g. `scratch_map`, `tail_call`). */
  readonly kernelDrops?: Iterable<{ reason: string; count: SampleValue }>;
  /** Ring records that could not be decoded. */
  readonly decodeErrors?: SampleValue;
  readonly processCache?: {
    readonly size: number;
    readonly capacity?: number;
    readonly evictions: SampleValue;
  };
  /** Kernel memory (memlock) of each BPF map, by owner (`process`, `policy`) and map name. */
  readonly kernelMapBytes?: Iterable<{ owner: string; map: string; bytes: number }>;
  /** Failed writes, rotations and reopens of the export file. */
  readonly exportErrors?: SampleValue;
  /** Event lines lost to failed writes of the export file. */
  readonly exportLost?: SampleValue;
  /** Workload metadata sources and the events that waited for them. */
  readonly metadata?: MetadataMetricsSnapshot;
}

/** Workload metadata: per-source health and the counters of events that waited for it. */
export interface MetadataMetricsSnapshot {
  readonly sources: Iterable<{
    source: string;
    /** `up`, `down` or `disabled`. */
    state: string;
    entries: number;
    refreshErrors: SampleValue;
    hits: SampleValue;
  }>;
  readonly lookups?: { hits: SampleValue; misses: SampleValue };
  readonly refreshes?: SampleValue;
  /** Events waiting for metadata now. */
  readonly parkedNow: number;
  /** Events by stage (`parked`, `retried`, `resolved`, `gave_up`), type and reason. */
  readonly parking: Iterable<{ stage: string; type: string; reason: string; count: SampleValue }>;
}

const SOURCE_STATES = ["up", "down", "disabled"] as const;
const PARK_STAGES: readonly [string, string, string][] = [
  ["parked", "vigil_metadata_events_parked_total", "Events that waited for workload metadata"],
  ["retried", "vigil_metadata_events_retried_total", "Retries of waiting events (one per tick)"],
  [
    "resolved",
    "vigil_metadata_events_resolved_total",
    "Waiting events emitted once the metadata arrived",
  ],
  [
    "gave_up",
    "vigil_metadata_events_gave_up_total",
    "Events emitted without workload metadata, flagged nometadata",
  ],
];

/** Inputs of {@link registerVigilMetrics}. */
export interface VigilMetricsOptions {
  readonly build: BuildInfo;
  /** Called once per scrape. */
  readonly snapshot?: () => VigilMetricsSnapshot;
  /** Policy states (usually `PolicyService.list`); only the name, state and budget are read. */
  readonly policies?: () => readonly {
    readonly name: string;
    readonly state: string;
    readonly budget?: PolicyStatus["budget"];
  }[];
  /** Per-program BPF statistics; omit to leave the `vigil_bpf_program_*` families empty. */
  readonly programs?: ProgramStats;
}

/** The states `vigil_policy_state` reports (a policy's state is 1, the others 0). */
const POLICY_STATES: readonly string[] = ["enabled", "error", "loading", "throttled"];
/** The steps `vigil_policy_budget_state` reports. */
const BUDGET_STATES: readonly BudgetState[] = ["ok", "bucketed", "throttled", "over_budget"];

/**
 * Memoises `fn` for one synchronous render: every collector of one scrape sees the same value,
 * and the next scrape calls `fn` again.
 */
function perScrape<T>(fn: () => T): () => T {
  let cached: { value: T } | null = null;
  return () => {
    if (cached === null) {
      cached = { value: fn() };
      queueMicrotask(() => cached = null);
    }
    return cached.value;
  };
}

function one(value: SampleValue | undefined): Sample[] {
  return value === undefined ? [] : [{ labels: [], value }];
}

/**
 * Registers vigil's metric families on `registry`.
 *
 * @example
 * ```ts
 * const registry = new MetricsRegistry();
 * registerVigilMetrics(registry, {
 *   build: { version: "0.1.0", deno: Deno.version.deno, libbpf: "1.1" },
 *   snapshot: () => ({ ringRecords: 10, ringLost: 0 }),
 * });
 * registry.render();
 * ```
 */
export function registerVigilMetrics(
  registry: MetricsRegistry,
  options: VigilMetricsOptions,
): void {
  const snap = perScrape(() => options.snapshot?.() ?? {});
  const programs = perScrape((): ProgramStat[] => options.programs?.list() ?? []);

  const { build } = options;
  registry.gauge("vigil_build_info", "vigil build information (always 1).", [
    "version",
    "deno",
    "libbpf",
  ], { collect: () => [{ labels: [build.version, build.deno, build.libbpf], value: 1 }] });

  registry.counter("vigil_events_total", "Events exported, by type and policy.", [
    "type",
    "policy",
  ], {
    collect: function* () {
      for (const e of snap().events ?? []) yield { labels: [e.type, e.policy], value: e.count };
    },
  });
  registry.counter(
    "vigil_kernel_filtered_events_total",
    "Events dropped by in-kernel selectors, per policy and hook.",
    ["policy", "hook"],
    {
      collect: function* () {
        for (const f of snap().kernelFiltered ?? []) {
          yield { labels: [f.policy, f.hook], value: f.count };
        }
      },
    },
  );
  registry.counter("vigil_ringbuf_records_total", "Records read from the BPF ring buffer.", [], {
    collect: () => one(snap().ringRecords),
  });
  registry.counter(
    "vigil_ringbuf_lost_total",
    "Records the kernel could not reserve because the ring buffer was full.",
    [],
    { collect: () => one(snap().ringLost) },
  );
  registry.counter("vigil_kernel_drops_total", "Other kernel-side event losses, by reason.", [
    "reason",
  ], {
    collect: function* () {
      for (const d of snap().kernelDrops ?? []) yield { labels: [d.reason], value: d.count };
    },
  });
  registry.counter(
    "vigil_decode_errors_total",
    "Ring buffer records that could not be decoded.",
    [],
    {
      collect: () => one(snap().decodeErrors),
    },
  );
  registry.gauge(
    "vigil_bpf_map_memory_bytes",
    "Kernel memory charged for each BPF map (memlock), by owner and map.",
    ["owner", "map"],
    {
      collect: function* () {
        for (const m of snap().kernelMapBytes ?? []) {
          yield { labels: [m.owner, m.map], value: m.bytes };
        }
      },
    },
  );
  registry.gauge("vigil_process_cache_size", "Processes in the process cache.", [], {
    collect: () => one(snap().processCache?.size),
  });
  registry.gauge("vigil_process_cache_capacity", "Capacity of the process cache.", [], {
    collect: () => one(snap().processCache?.capacity),
  });
  registry.counter(
    "vigil_process_cache_evictions_total",
    "Processes evicted from the full process cache (least recently used first).",
    [],
    { collect: () => one(snap().processCache?.evictions) },
  );
  registry.counter(
    "vigil_export_errors_total",
    "Failed writes, rotations and reopens of the export file.",
    [],
    { collect: () => one(snap().exportErrors) },
  );
  registry.counter(
    "vigil_export_lost_events_total",
    "Event lines lost because the export file could not be written (a full disk...).",
    [],
    { collect: () => one(snap().exportLost) },
  );

  registry.gauge(
    "vigil_metadata_source_state",
    "Metadata source state: 1 for the source's current state (up, down, disabled), 0 for the others.",
    ["source", "state"],
    {
      collect: function* () {
        for (const s of snap().metadata?.sources ?? []) {
          for (const state of SOURCE_STATES) {
            yield { labels: [s.source, state], value: s.state === state ? 1 : 0 };
          }
        }
      },
    },
  );
  registry.gauge(
    "vigil_metadata_source_entries",
    "Containers (or pods) each metadata source has cached.",
    ["source"],
    {
      collect: function* () {
        for (const s of snap().metadata?.sources ?? []) {
          yield { labels: [s.source], value: s.entries };
        }
      },
    },
  );
  registry.counter(
    "vigil_metadata_source_hits_total",
    "Metadata lookups each source answered.",
    ["source"],
    {
      collect: function* () {
        for (const s of snap().metadata?.sources ?? []) {
          yield { labels: [s.source], value: s.hits };
        }
      },
    },
  );
  registry.counter(
    "vigil_metadata_source_refresh_errors_total",
    "Container refreshes that failed or timed out, per metadata source.",
    ["source"],
    {
      collect: function* () {
        for (const s of snap().metadata?.sources ?? []) {
          yield { labels: [s.source], value: s.refreshErrors };
        }
      },
    },
  );
  registry.counter(
    "vigil_metadata_lookups_total",
    "Workload metadata lookups, by result (hit, miss).",
    ["result"],
    {
      collect: () => {
        const l = snap().metadata?.lookups;
        return l === undefined
          ? []
          : [{ labels: ["hit"], value: l.hits }, { labels: ["miss"], value: l.misses }];
      },
    },
  );
  registry.counter(
    "vigil_metadata_refreshes_total",
    "Container metadata refreshes asked of the sources (cgroup mkdir, retries).",
    [],
    { collect: () => one(snap().metadata?.refreshes) },
  );
  registry.gauge(
    "vigil_metadata_parked_events",
    "Events waiting for workload metadata now.",
    [],
    { collect: () => one(snap().metadata?.parkedNow) },
  );
  for (const [stage, name, help] of PARK_STAGES) {
    registry.counter(name, `${help}, by event type and reason.`, ["type", "reason"], {
      collect: function* () {
        for (const c of snap().metadata?.parking ?? []) {
          if (c.stage === stage) yield { labels: [c.type, c.reason], value: c.count };
        }
      },
    });
  }

  registry.gauge(
    "vigil_policy_state",
    "Policy state: 1 for the policy's current state, 0 for the others.",
    ["policy", "state"],
    {
      collect: function* () {
        for (const p of options.policies?.() ?? []) {
          for (const state of POLICY_STATES) {
            yield { labels: [p.name, state], value: p.state === state ? 1 : 0 };
          }
        }
      },
    },
  );

  registry.gauge(
    "vigil_policy_cpu_ratio",
    "CPU a policy used over the budget guard's last window, as a share of one CPU (BPF run " +
      "time of its hooks plus the agent's user-space time on its events).",
    ["policy"],
    {
      collect: function* () {
        for (const p of options.policies?.() ?? []) {
          if (p.budget) yield { labels: [p.name], value: p.budget.cpuUsed };
        }
      },
    },
  );
  registry.gauge(
    "vigil_policy_cpu_budget_ratio",
    "A policy's CPU budget, as a share of one CPU.",
    ["policy"],
    {
      collect: function* () {
        for (const p of options.policies?.() ?? []) {
          if (p.budget) yield { labels: [p.name], value: p.budget.cpuBudget };
        }
      },
    },
  );
  registry.gauge(
    "vigil_policy_budget_state",
    "Where the CPU-budget guard has a policy: 1 for its current step, 0 for the others.",
    ["policy", "state"],
    {
      collect: function* () {
        for (const p of options.policies?.() ?? []) {
          if (!p.budget) continue;
          for (const state of BUDGET_STATES) {
            yield { labels: [p.name, state], value: p.budget.state === state ? 1 : 0 };
          }
        }
      },
    },
  );

  registry.gauge(
    "vigil_bpf_stats_enabled",
    "1 when the kernel counts BPF program run time (bpf_enable_stats), 0 when off.",
    [],
    { collect: () => options.programs ? one(options.programs.enabled === false ? 0 : 1) : [] },
  );
  const programLabels = ["id", "program", "policy"];
  const labelsOf = (p: ProgramStat) => [String(p.id), p.name, p.policy ?? ""];
  registry.counter("vigil_bpf_program_runs_total", "Runs of each BPF program.", programLabels, {
    collect: () => programs().map((p) => ({ labels: labelsOf(p), value: p.runCount })),
  });
  registry.counter(
    "vigil_bpf_program_run_time_seconds_total",
    "CPU time spent in each BPF program, summed over CPUs.",
    programLabels,
    {
      collect: () =>
        programs().map((p) => ({ labels: labelsOf(p), value: Number(p.runTimeNs) / 1e9 })),
    },
  );
  registry.counter(
    "vigil_bpf_program_recursion_misses_total",
    "Runs the kernel skipped because the program was already running on that CPU.",
    programLabels,
    {
      collect: () =>
        programs().flatMap((p) =>
          p.recursionMisses === undefined ? [] : [{ labels: labelsOf(p), value: p.recursionMisses }]
        ),
    },
  );
}
