/**
 * Late metadata with the real agent and a real containerd: a runc container in a kubepods-shaped
 * cgroup runs before containerd has any record of it (as when the runtime is slow to report a
 * container); its events wait, and once the container and sandbox records exist (kubelet's
 * labels, created with `ctr`) they are emitted complete, in order, unflagged.
 */
import assert from "node:assert/strict";
import { marker, startAgentProcess } from "../_helpers/agent_process.ts";
import { RuncSession } from "../_helpers/runc.ts";
import { ContainerdDaemon } from "../metadata/_containerd.ts";
import {
  agentStatus,
  apiGet,
  e2eTest,
  flagsOf,
  hex64,
  kubeletLabels,
  metric,
  sleep,
  T,
  untilSourceUp,
} from "./_e2e.ts";

Deno.test({
  ...e2eTest(
    "late metadata: events wait until containerd knows the container, then leave complete",
  ),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("k8s.io");
    await using session = await RuncSession.open();
    // A 6 s window: 20 lookups, 300 ms apart.
    await using agent = await startAgentProcess({
      args: [
        "--containerd-socket",
        d.socket,
        "--metadata-retry-delay",
        "300",
        "--metadata-retries",
        "20",
      ],
    });
    await untilSourceUp(agent);

    const pod = { namespace: "batch", name: "report-28934521-x7k2p", uid: crypto.randomUUID() };
    const id = hex64();
    const tags = [marker(), marker(), marker()];
    const script = tags.map((t) => `/bin/true ${t}; /bin/sleep 0.2`).join("; ");
    await using _container = await session.start(
      `/kubepods/besteffort/pod${pod.uid}/${id}`,
      { args: ["/bin/sh", "-c", `${script}; exec /bin/sleep 3600`] },
    );
    await sleep(1500);
    const early = agent.events().filter((e) => tags.includes(e.process_exec?.process?.arguments));
    assert.equal(early.length, 0, "nothing of the container is exported yet");
    const waiting = await agentStatus(agent);
    assert.ok(waiting.metadata.parking.parked >= 4, JSON.stringify(waiting.metadata.parking));
    assert.equal(waiting.metadata.parking.containers_waiting, 1);

    // The records appear (sandbox with the pod's labels, then the container).
    await d.createContainer("k8s.io", hex64(), { ...kubeletLabels(pod, null), team: "data" });
    await d.createContainer("k8s.io", id, kubeletLabels(pod, "report"));

    const execs = await agent.waitFor(
      (e) => tags.includes(e.process_exec?.process?.arguments),
      { count: 3, timeoutMs: 10_000 },
    );
    assert.deepEqual(execs.map((e) => e.process_exec.process.arguments), tags, "in order");
    for (const e of execs) {
      for (const p of [e.process_exec.process, e.process_exec.parent]) {
        const msg = JSON.stringify(p);
        assert.equal(p.pod?.name, pod.name, msg);
        assert.equal(p.pod.namespace, pod.namespace, msg);
        assert.equal(p.pod.uid, pod.uid, msg);
        assert.equal(p.pod.container?.name, "report", msg);
        assert.equal(p.pod.container.id, `containerd://${id}`, msg);
        assert.deepEqual(p.pod.pod_labels, { team: "data" }, msg);
        assert.ok(!flagsOf(p).includes("nometadata"), msg);
      }
    }
    // The sleeps between them exited (forks of the shell that exec'd sleep): complete too.
    const init = execs[0]!.process_exec.parent;
    const exits = agent.events().filter((e) =>
      e.process_exit?.process?.binary === "/bin/sleep" &&
      e.process_exit.parent?.exec_id === init.exec_id
    );
    assert.ok(exits.length >= 2, `sleep exits: ${exits.length}`);
    for (const e of exits) assert.equal(e.process_exit.process.pod?.name, pod.name);

    const metrics = await apiGet(agent, "/metrics");
    const parked = metric(
      metrics,
      'vigil_metadata_events_parked_total{type="process_exec",reason="not_found"}',
    );
    const resolved = metric(
      metrics,
      'vigil_metadata_events_resolved_total{type="process_exec",reason="not_found"}',
    );
    assert.ok(parked !== undefined && parked >= 4, `parked ${parked}`);
    assert.equal(resolved, parked, "every parked exec resolved");
    assert.ok(
      (metric(
        metrics,
        'vigil_metadata_events_retried_total{type="process_exec",reason="not_found"}',
      ) ??
        0) > 0,
    );
    assert.doesNotMatch(metrics, /^vigil_metadata_events_gave_up_total\{/m);
    assert.equal(metric(metrics, "vigil_metadata_parked_events"), 0);
  },
});
