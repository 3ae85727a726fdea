/**
 * `/metrics` of the REAL agent, with a policy loaded, events flowing, a stream client and API
 * traffic (so every family has samples): `promtool check metrics` (Debian's prometheus package)
 * accepts it, and the values follow what happened.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { requires } from "../_helpers/requires.ts";
import { Api, promtoolCheck, SeqCollector, seqPolicy, seqPrefix, startGenerator } from "./_e2e.ts";

Deno.test({
  ...requires(
    "promtool check metrics accepts the real agent's /metrics under load",
    "root",
    "promtool",
  ),
  async fn() {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-metrics-" });
    const prefix = seqPrefix();
    await Deno.writeTextFile(`${policyDir}/m.yaml`, seqPolicy("e2e-metrics", prefix, "metrics"));
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);
    const events = new SeqCollector(agent.exportPath, prefix);

    // Traffic: events, a stream client, some requests with error codes.
    const stream = await api.stream("/events?policy=e2e-metrics");
    // It reads (a client that does not is dropped once it is 10,000 events behind).
    const reader = stream.body!.getReader();
    const reading = (async () => {
      while (!(await reader.read()).done) { /* discard */ }
    })().catch(() => {});
    const gen = startGenerator(prefix, 0, { count: 5000 });
    await events.waitFor((e) => e.policy === "e2e-metrics", 5000);
    await gen.stop();
    await api.get("/policies/nope");
    await api.postPolicy("kind: [", null);
    await api.postPolicy("kind: [");
    await api.get("/status");

    const scrape = await api.get("/metrics");
    assert.equal(scrape.status, 200);
    assert.equal(
      scrape.headers.get("content-type"),
      "text/plain; version=0.0.4; charset=utf-8",
    );
    const { code, output } = await promtoolCheck(scrape.text);
    assert.equal(code, 0, `promtool check metrics:\n${output}`);
    assert.equal(output.trim(), "", `promtool has no complaints (not even lint):\n${output}`);

    const m = scrape.text;
    const value = (series: string): number => {
      const line = m.split("\n").find((l) => l.startsWith(series + " "));
      assert.ok(line, `${series} in /metrics`);
      return Number(line.slice(series.length + 1));
    };
    assert.ok(value('vigil_events_total{type="policy",policy="e2e-metrics"}') >= 5000);
    assert.ok(value('vigil_events_total{type="process_exec",policy=""}') >= 1);
    assert.equal(value('vigil_policy_state{policy="e2e-metrics",state="enabled"}'), 1);
    assert.equal(value('vigil_policy_state{policy="e2e-metrics",state="error"}'), 0);
    assert.equal(value("vigil_ringbuf_lost_total"), 0);
    assert.equal(value("vigil_decode_errors_total"), 0);
    assert.equal(value("vigil_export_errors_total"), 0);
    assert.ok(value("vigil_process_cache_size") > 0);
    assert.equal(value("vigil_event_stream_clients"), 1);
    assert.ok(value("vigil_event_stream_lines_total") >= 5000);
    assert.equal(value('vigil_api_requests_total{method="POST",route="/policies",code="401"}'), 1);
    assert.equal(value('vigil_api_requests_total{method="POST",route="/policies",code="400"}'), 1);
    assert.equal(
      value('vigil_api_requests_total{method="GET",route="/policies/:name",code="404"}'),
      1,
    );
    assert.match(m, /^vigil_build_info\{version="[^"]+",deno="[^"]+",libbpf="[^"]+"\} 1$/m);
    assert.match(
      m,
      /^vigil_kernel_filtered_events_total\{policy="e2e-metrics",hook="[^"]+"\} \d+$/m,
    );
    // BPF statistics are on by default: the policy program ran at least once per event.
    assert.equal(value("vigil_bpf_stats_enabled"), 1);
    const runs = [
      ...m.matchAll(/^vigil_bpf_program_runs_total\{[^}]*program="vigil_policy"[^}]*\} (\d+)$/gm),
    ]
      .reduce((sum, x) => sum + Number(x[1]), 0);
    assert.ok(runs >= 5000, `vigil_policy runs ${runs}`);
    assert.match(
      m,
      /^vigil_bpf_program_run_time_seconds_total\{[^}]*program="vigil_exec"[^}]*\} [\d.e-]+$/m,
    );
    await reader.cancel();
    await reading;
    await Deno.remove(policyDir, { recursive: true });
  },
});
