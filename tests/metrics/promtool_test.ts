/**
 * `GET /metrics` as the real `promtool check metrics` (Debian's prometheus package) sees it: every
 * vigil family populated, awkward label values included. Ignored loudly without promtool.
 */
import assert from "node:assert/strict";
import { createApp } from "../../src/api/app.ts";
import { AUTH, examplePolicy, fakes } from "../api/_fakes.ts";
import { requires } from "../_helpers/requires.ts";

async function promtool(text: string): Promise<{ code: number; output: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test({
  ...requires("promtool check metrics accepts /metrics", "promtool"),
  async fn() {
    const f = fakes();
    const app = createApp(f.deps);
    // Populate: policies, requests with several codes, a stream client, odd label values.
    await f.policies.apply(examplePolicy("etc_reads.yaml"), "test");
    await f.policies.apply(examplePolicy("connect_port.yaml"), "test");
    await app.request("/policies", { method: "POST", body: "x" });
    await app.request("/policies", { method: "POST", headers: AUTH, body: "a: [" });
    await app.request("/policies/nope", { headers: AUTH });
    await app.request('/nope?x="y"', { headers: AUTH });
    const stream = await app.request('/events?type=a"b', { headers: AUTH });
    f.registry.gauge("vigil_test_odd_labels", "Label values that need escaping.", ["v"]).labels(
      'quote " backslash \\ newline \n brace } unicode ✓',
    ).set(1);

    const text = await (await app.request("/metrics")).text();
    await stream.body?.cancel();
    const result = await promtool(text);
    assert.equal(result.output, "", `promtool said:\n${result.output}\n--- metrics ---\n${text}`);
    assert.equal(result.code, 0);

    // Every family the issue asks for is there.
    for (
      const family of [
        "vigil_build_info",
        "vigil_events_total",
        "vigil_kernel_filtered_events_total",
        "vigil_ringbuf_lost_total",
        "vigil_kernel_drops_total",
        "vigil_process_cache_size",
        "vigil_process_cache_evictions_total",
        "vigil_policy_state",
        "vigil_bpf_program_runs_total",
        "vigil_bpf_program_run_time_seconds_total",
        "vigil_export_errors_total",
        "vigil_export_lost_events_total",
        "vigil_api_requests_total",
        "vigil_event_stream_dropped_clients_total",
      ]
    ) {
      assert.match(text, new RegExp(`^# TYPE ${family} `, "m"), family);
      assert.match(text, new RegExp(`^${family}(\\{| )`, "m"), `${family} has samples`);
    }
    assert.match(text, /^vigil_policy_state\{policy="connect-port",state="enabled"\} 1$/m);
    assert.match(text, /^vigil_policy_state\{policy="connect-port",state="error"\} 0$/m);
  },
});

Deno.test({
  ...requires("promtool rejects what it should (the check is real)", "promtool"),
  async fn() {
    const bad = await promtool(
      "# HELP x_milliseconds X.\n# TYPE x_milliseconds gauge\nx_milliseconds 1\n",
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.output, /base unit/);
  },
});
