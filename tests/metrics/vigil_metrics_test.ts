/** vigil's metric families: one snapshot per scrape, values mapped to the right series. */
import assert from "node:assert/strict";
import { MetricsRegistry } from "../../src/metrics/registry.ts";
import { registerVigilMetrics } from "../../src/metrics/vigil_metrics.ts";
import type { PolicyStatus } from "../../src/api/types.ts";

const BUILD = { version: "9.9.9", deno: "2.9.6", libbpf: "1.1" };

function policy(name: string, state: PolicyStatus["state"]): PolicyStatus {
  return {
    name,
    state,
    hooks: [],
    counters: { seen: 0, posted: 0, filtered: 0, rateLimited: 0, signals: 0 },
  };
}

Deno.test("registerVigilMetrics() takes one snapshot and one program list per scrape", async () => {
  const r = new MetricsRegistry();
  let snapshots = 0;
  let lists = 0;
  registerVigilMetrics(r, {
    build: BUILD,
    snapshot: () => {
      snapshots++;
      return { ringRecords: 5, ringLost: 1n, processCache: { size: 3, evictions: 0 } };
    },
    programs: {
      list: () => {
        lists++;
        return [{ id: 1, name: "p", runCount: 2n, runTimeNs: 1_500_000_000n }];
      },
    },
  });
  const text = r.render();
  assert.equal(snapshots, 1);
  assert.equal(lists, 1);
  await Promise.resolve();
  r.render();
  assert.equal(snapshots, 2, "the next scrape reads again");
  assert.match(text, /^vigil_build_info\{version="9\.9\.9",deno="2\.9\.6",libbpf="1\.1"\} 1$/m);
  assert.match(text, /^vigil_ringbuf_records_total 5$/m);
  assert.match(text, /^vigil_ringbuf_lost_total 1$/m);
  assert.match(text, /^vigil_process_cache_size 3$/m);
  assert.doesNotMatch(text, /^vigil_process_cache_capacity /m, "absent values have no sample");
  assert.match(text, /^vigil_bpf_stats_enabled 1$/m);
  assert.match(text, /^vigil_bpf_program_runs_total\{id="1",program="p",policy=""\} 2$/m);
  assert.match(
    text,
    /^vigil_bpf_program_run_time_seconds_total\{id="1",program="p",policy=""\} 1\.5$/m,
  );
});

Deno.test("policy state is one series per state, 1 for the current one", () => {
  const r = new MetricsRegistry();
  registerVigilMetrics(r, {
    build: BUILD,
    policies: () => [policy("a", "enabled"), policy("b", "error")],
    programs: { list: () => [], enabled: false },
  });
  const text = r.render();
  assert.match(
    text,
    /vigil_policy_state\{policy="a",state="enabled"\} 1\nvigil_policy_state\{policy="a",state="error"\} 0\nvigil_policy_state\{policy="a",state="loading"\} 0\nvigil_policy_state\{policy="a",state="throttled"\} 0\nvigil_policy_state\{policy="b",state="enabled"\} 0\nvigil_policy_state\{policy="b",state="error"\} 1/,
  );
  assert.match(text, /^vigil_bpf_stats_enabled 0$/m);
});

Deno.test("without sources every family is still described (HELP/TYPE)", () => {
  const r = new MetricsRegistry();
  registerVigilMetrics(r, { build: BUILD });
  const text = r.render();
  for (const f of ["vigil_events_total", "vigil_kernel_drops_total", "vigil_export_errors_total"]) {
    assert.match(text, new RegExp(`^# TYPE ${f} counter$`, "m"));
  }
  assert.doesNotMatch(text, /^vigil_bpf_stats_enabled /m);
});

Deno.test("budget gauges: CPU used, budget and the guard's step per policy", () => {
  const r = new MetricsRegistry();
  registerVigilMetrics(r, {
    build: BUILD,
    policies: () => [{
      ...policy("a", "throttled"),
      budget: {
        cpuBudget: 0.05,
        source: "agent" as const,
        cpuUsed: 0.2,
        bpfUsed: 0.15,
        state: "throttled" as const,
        enforcing: false,
      },
    }, policy("b", "enabled")],
    programs: { list: () => [], enabled: false },
  });
  const text = r.render();
  assert.match(text, /^vigil_policy_cpu_ratio\{policy="a"\} 0.2$/m);
  assert.match(text, /^vigil_policy_cpu_budget_ratio\{policy="a"\} 0.05$/m);
  assert.match(text, /^vigil_policy_budget_state\{policy="a",state="throttled"\} 1$/m);
  assert.match(text, /^vigil_policy_budget_state\{policy="a",state="ok"\} 0$/m);
  assert.match(text, /^vigil_policy_state\{policy="a",state="throttled"\} 1$/m);
  assert.doesNotMatch(text, /vigil_policy_cpu_ratio\{policy="b"\}/);
});
