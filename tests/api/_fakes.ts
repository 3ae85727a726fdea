/**
 * Fake agent-side dependencies for the API tests: a policy service backed by the real policy
 * parser (so 400s carry real line/column errors), a settable health, a status with a bigint, and
 * BPF program statistics that grow between calls.
 */
import { createEventHub, type EventHubOptions } from "../../src/api/event_hub.ts";
import type { AppDeps } from "../../src/api/app.ts";
import type {
  ApplyResult,
  EventHub,
  PolicyHookStatus,
  PolicyService,
  PolicyStats,
  PolicyStatus,
  ProgramStat,
  ProgramStats,
  ReloadResult,
} from "../../src/api/types.ts";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { registerVigilMetrics } from "../../src/metrics/vigil_metrics.ts";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { zeroStageTotals } from "../../src/policy/manager.ts";

export const TOKEN = "test-token_0123456789abcdefABCDEF";

export const POLICIES_DIR = new URL("../../policies/", import.meta.url).pathname;

/** A policy file of the repository's examples. */
export function examplePolicy(file: string): string {
  return Deno.readTextFileSync(POLICIES_DIR + file);
}

/** A policy service that keeps policies in memory and validates with the real parser. */
export class FakePolicyService implements PolicyService {
  readonly policies = new Map<string, { yaml: string; status: PolicyStatus }>();
  /** What the next reload() reports (default: the current policies, no errors). */
  nextReload: ReloadResult | undefined;
  applied: { yaml: string; source: string }[] = [];

  list(): PolicyStatus[] {
    return [...this.policies.values()].map((p) => p.status);
  }

  /** No kernel here: every stage reads zero. */
  stats(name: string): PolicyStats | undefined {
    const p = this.policies.get(name);
    if (!p) return undefined;
    return {
      policy: name,
      state: p.status.state,
      hooks: [],
      total: zeroStageTotals(),
      exported: 0,
    };
  }

  get(name: string): { name: string; yaml: string } | undefined {
    const p = this.policies.get(name);
    return p && { name, yaml: p.yaml };
  }

  apply(yaml: string, source: string): Promise<ApplyResult> {
    this.applied.push({ yaml, source });
    const parsed = parsePolicy(yaml, source);
    if (parsed.policy === undefined) {
      return Promise.resolve({ ok: false, status: 400, errors: parsed.errors });
    }
    const spec = parsed.policy.spec;
    const hooks: PolicyHookStatus[] = [
      ...spec.kprobes.map((k) => ({
        hook: `kprobe:${k.call}`,
        mechanism: "kprobe",
        cost: "medium",
        attached: true,
      })),
      ...spec.tracepoints.map((t) => ({
        hook: `tracepoint:${t.subsystem}/${t.event}`,
        mechanism: "tracepoint",
        cost: "low",
        attached: true,
      })),
    ];
    const status: PolicyStatus = {
      name: parsed.policy.name,
      state: "enabled",
      mode: spec.options.policyMode,
      hooks,
      counters: { seen: 0, posted: 0, filtered: 0, rateLimited: 0, signals: 0 },
    };
    const replaced = this.policies.has(status.name);
    this.policies.set(status.name, { yaml, status });
    return Promise.resolve({ ok: true, policy: status, replaced });
  }

  delete(name: string): Promise<boolean> {
    return Promise.resolve(this.policies.delete(name));
  }

  reload(): Promise<ReloadResult> {
    return Promise.resolve(this.nextReload ?? { policies: this.list(), errors: [] });
  }
}

/** Program statistics that advance by a fixed step at every list(). */
export class GrowingProgramStats implements ProgramStats {
  enabled = true;
  #calls = 0n;
  list(): ProgramStat[] {
    this.#calls++;
    return [
      {
        id: 11,
        name: "vigil_exec",
        runCount: 100n * this.#calls,
        runTimeNs: 2_000_000n * this.#calls,
      },
      {
        id: 12,
        name: "generic_kprobe",
        policy: "etc-sensitive-reads",
        runCount: 1000n * this.#calls,
        runTimeNs: 50_000_000n * this.#calls,
        recursionMisses: 0n,
      },
    ];
  }
}

/** A full set of fake deps plus handles to steer them. */
export interface Fakes {
  deps: AppDeps;
  policies: FakePolicyService;
  hub: EventHub;
  registry: MetricsRegistry;
  health: { alive: boolean; ready: boolean; reason?: string };
}

/** Builds fake deps; `overrides` replaces any of them. */
export function fakes(
  { hubOptions, ...overrides }: Partial<AppDeps> & { hubOptions?: EventHubOptions } = {},
): Fakes {
  const policies = new FakePolicyService();
  const hub = createEventHub(hubOptions);
  const registry = new MetricsRegistry();
  const health: Fakes["health"] = { alive: true, ready: true };
  registerVigilMetrics(registry, {
    build: { version: "0.1.0", deno: Deno.version.deno, libbpf: "1.1" },
    snapshot: () => ({
      events: [
        { type: "process_exec", policy: "", count: 5 },
        { type: "process_kprobe", policy: "etc-sensitive-reads", count: 2n },
      ],
      kernelFiltered: [{
        policy: "etc-sensitive-reads",
        hook: "kprobe:security_file_permission",
        count: 40,
      }],
      ringRecords: 7n,
      ringLost: 0n,
      kernelDrops: [{ reason: "scratch_map", count: 0 }],
      decodeErrors: 0,
      processCache: { size: 120, capacity: 65536, evictions: 3 },
      exportErrors: 0,
      exportLost: 0,
    }),
    policies: () => policies.list(),
    programs: new GrowingProgramStats(),
  });
  const deps: AppDeps = {
    policies,
    events: hub,
    status: {
      status: () => ({
        version: "0.1.0",
        kernel: { release: "6.18.0", features: { fentry: true, lsm: false } },
        cgroup: { mode: "hybrid" },
        programs: [{ name: "vigil_exec", id: 11, runs: 5n }],
      }),
    },
    health: {
      alive: () => health.alive,
      ready: () => ({ ready: health.ready, ...(health.reason ? { reason: health.reason } : {}) }),
    },
    metrics: registry,
    token: TOKEN,
    ...overrides,
  };
  return { deps, policies, hub, registry, health };
}

/** `Authorization` header with the fake token. */
export const AUTH = { authorization: `Bearer ${TOKEN}` };
