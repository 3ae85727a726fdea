/**
 * The source-down case with the real agent and a real containerd: a pod keeps exec'ing while
 * containerd is stopped (its shim keeps the container running). The agent's events still flow:
 * after the retry window they leave without metadata, flagged `nometadata`, with what the cgroup
 * path says; once containerd is back, the metadata fills in for the following events.
 */
import assert from "node:assert/strict";
import { type ExportedEvent, marker, startAgentProcess } from "../_helpers/agent_process.ts";
import { ContainerdDaemon } from "../metadata/_containerd.ts";
import { agentStatus, apiGet, e2eTest, flagsOf, metric, T, until } from "./_e2e.ts";

Deno.test({
  ...e2eTest(
    "source down: events flow flagged after the retries; metadata fills in when it is back",
  ),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("k8s.io");
    const pod = { namespace: "ops", name: "ticker-0", uid: crypto.randomUUID() };
    const tag = marker();
    const running = await d.runPod({
      ...pod,
      labels: { app: "ticker" },
      containers: [{
        name: "tick",
        args: ["/bin/sh", "-c", `while :; do /bin/true ${tag}; /bin/sleep 0.3; done`],
      }],
    });
    const id = running.containers.tick as string;
    await d.stop();

    // A 1 s window: 5 lookups, 200 ms apart.
    await using agent = await startAgentProcess({
      args: [
        "--containerd-socket",
        d.socket,
        "--metadata-retry-delay",
        "200",
        "--metadata-retries",
        "5",
      ],
    });
    const ticks = () =>
      agent.events().filter((e) => e.process_exec?.process?.arguments === tag).map((e) =>
        e.process_exec.process
      );
    await until("flagged events while containerd is down", 15_000, () => ticks().length >= 5);
    const down = await agentStatus(agent);
    assert.equal(down.metadata.sources.containerd.state, "down");
    assert.ok(down.metadata.sources.containerd.lastError);
    for (const p of ticks()) {
      const msg = JSON.stringify(p);
      assert.ok(flagsOf(p).includes("nometadata"), msg);
      assert.equal(p.pod?.container?.id, `containerd://${id}`, msg);
      assert.equal(p.pod.uid, pod.uid, "the pod UID from the cgroup path");
      assert.equal(p.pod.name, undefined, msg);
      assert.equal(p.docker, id.slice(0, 31), msg);
    }
    const metrics = await apiGet(agent, "/metrics");
    assert.ok(
      (metric(
        metrics,
        'vigil_metadata_events_gave_up_total{type="process_exec",reason="source_down"}',
      ) ?? 0) >= 1,
    );
    assert.ok(
      (metric(
        metrics,
        'vigil_metadata_events_gave_up_total{type="process_exec",reason="unresolved"}',
      ) ?? 0) >= 1,
      "later events flagged at once",
    );
    assert.equal(
      metric(metrics, 'vigil_metadata_source_state{source="containerd",state="down"}'),
      1,
    );

    // containerd comes back: within the source's backoff, the pod fills in.
    await d.resume();
    const complete = (p: ExportedEvent) => p.pod?.name === pod.name;
    await until(
      "an event with the pod after containerd is back",
      45_000,
      () => ticks().some(complete),
    );
    const first = ticks().findIndex(complete);
    await until("more events after that", 10_000, () => ticks().length >= first + 4);
    for (const p of ticks().slice(first)) {
      const msg = JSON.stringify(p);
      assert.equal(p.pod.namespace, pod.namespace, msg);
      assert.equal(p.pod.container?.name, "tick", msg);
      assert.deepEqual(p.pod.pod_labels, { app: "ticker" }, msg);
      assert.ok(!flagsOf(p).includes("nometadata"), msg);
    }
    const up = await agentStatus(agent);
    assert.equal(up.metadata.sources.containerd.state, "up");
  },
});
