/**
 * The real agent with a real containerd (Debian's, private socket) and runc: a pod run through
 * the CRI runtime service exactly as kubelet runs one (sandbox in `/kubepods/besteffort/pod<uid>`,
 * kubelet's labels), and every event of its processes, exec'd and forked, carries Tetragon's pod
 * object; `/status` and `/metrics` show the source up.
 */
import assert from "node:assert/strict";
import { marker, startAgentProcess } from "../_helpers/agent_process.ts";
import { ContainerdDaemon, TEST_IMAGE } from "../metadata/_containerd.ts";
import {
  agentStatus,
  apiGet,
  e2eTest,
  flagsOf,
  metric,
  processOf,
  T,
  untilSourceUp,
} from "./_e2e.ts";

Deno.test({
  ...e2eTest("a CRI pod: exec and fork events of its processes carry the pod object"),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("k8s.io");
    await using agent = await startAgentProcess({ args: ["--containerd-socket", d.socket] });
    await untilSourceUp(agent);

    const uid = crypto.randomUUID();
    const tag = marker();
    const pod = await d.runPod({
      namespace: "shop",
      name: "cart-7d9f8b6c5-q2x7w",
      uid,
      labels: { app: "cart", "pod-template-hash": "7d9f8b6c5" },
      containers: [{
        name: "app",
        // A subshell that only forks and exits 3, then an exec'd child, then the init stays.
        args: ["/bin/sh", "-c", `(exit 3); /bin/true ${tag}; exec /bin/sleep 3600`],
      }],
    });
    const id = pod.containers.app as string;

    const [trueExec] = await agent.waitFor((e) =>
      e.process_exec?.process?.binary === "/bin/true" &&
      e.process_exec.process.arguments === tag
    );
    const init = trueExec!.process_exec.parent;
    assert.equal(init.binary, "/bin/sh");
    const [forkExit] = await agent.waitFor((e) =>
      e.process_exit?.process?.exec_id !== undefined &&
      e.process_exit.parent?.exec_id === init.exec_id && e.process_exit.status === 3
    );
    const [initExec] = await agent.waitFor((e) =>
      e.process_exec?.process?.exec_id === init.exec_id
    );

    const objects = {
      "exec of the container's init": initExec!.process_exec.process,
      "exec of its child": trueExec!.process_exec.process,
      "parent of that exec": init,
      "exit of a forked subshell (never exec'd)": forkExit!.process_exit.process,
    };
    assert.deepEqual(flagsOf(forkExit!.process_exit.process).slice(0, 1), ["clone"]);
    for (const [what, p] of Object.entries(objects)) {
      const msg = `${what}: ${JSON.stringify(p)}`;
      assert.equal(p.pod?.namespace, "shop", msg);
      assert.equal(p.pod.name, "cart-7d9f8b6c5-q2x7w", msg);
      assert.equal(p.pod.uid, uid, msg);
      assert.equal(p.pod.container?.id, `containerd://${id}`, msg);
      assert.equal(p.pod.container.name, "app", msg);
      assert.equal(p.pod.container.image?.name, TEST_IMAGE, msg);
      assert.match(p.pod.container.image.id, /^docker\.io\/vigil\/metadata-test@sha256:/, msg);
      assert.match(p.pod.container.start_time, /^\d{4}-\d\d-\d\dT/, msg);
      assert.deepEqual(p.pod.pod_labels, { app: "cart", "pod-template-hash": "7d9f8b6c5" }, msg);
      assert.equal(p.docker, id.slice(0, 31), msg);
      assert.ok(!flagsOf(p).includes("nometadata"), msg);
    }

    // Events of this pod never had to wait long: the refresh on cgroup mkdir found it.
    const status = await agentStatus(agent);
    assert.equal(status.metadata.enabled, true);
    assert.equal(status.metadata.sources.containerd.state, "up");
    assert.equal(status.metadata.parking.parked, 0);
    const metrics = await apiGet(agent, "/metrics");
    assert.equal(
      metric(metrics, 'vigil_metadata_source_state{source="containerd",state="up"}'),
      1,
    );
    assert.equal(
      metric(metrics, 'vigil_metadata_source_state{source="docker",state="disabled"}'),
      1,
    );
    assert.equal(
      metric(
        metrics,
        'vigil_metadata_events_gave_up_total{type="process_exec",reason="not_found"}',
      ),
      undefined,
    );
    // Host processes are not held back and carry no pod.
    const host = agent.events().map(processOf).find((p) => p && p.pod === undefined);
    assert.ok(host, "some host process event");
  },
});
