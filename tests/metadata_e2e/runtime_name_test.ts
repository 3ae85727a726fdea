/**
 * The real agent and a real containerd: containers run with `ctr run --cgroup /<group>/<name>`
 * sit in a cgroup named after the container, not a 64-hex id. The agent matches such leaves
 * against the ids containerd reports: one container started before the agent
 * (matched at the first sync), one after it (its cgroup's mkdir asks containerd).
 */
import assert from "node:assert/strict";
import { marker, startAgentProcess } from "../_helpers/agent_process.ts";
import { ContainerdDaemon } from "../metadata/_containerd.ts";
import { e2eTest, T, untilSourceUp } from "./_e2e.ts";

/** A shell loop that execs `/bin/true <tag>` every 300 ms for ever. */
function loop(tag: string): string[] {
  return ["/bin/sh", "-c", `while :; do /bin/true ${tag}; /bin/sleep 0.3; done`];
}

Deno.test({
  ...e2eTest("runtime-named cgroups: processes get the container id containerd reports"),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("default");
    const suffix = crypto.randomUUID().slice(0, 8);
    const group = `/vigil-tenants-${suffix}`;
    const before = { name: `web-${suffix}`, tag: marker() };
    const after = { name: `worker-${suffix}`, tag: marker() };
    await d.runContainer("default", before.name, {
      cgroup: `${group}/${before.name}`,
      args: loop(before.tag),
    });

    await using agent = await startAgentProcess({ args: ["--containerd-socket", d.socket] });
    await untilSourceUp(agent);
    await d.runContainer("default", after.name, {
      cgroup: `${group}/${after.name}`,
      args: loop(after.tag),
    });

    for (const { name, tag } of [before, after]) {
      const [e] = await agent.waitFor(
        (e) =>
          e.process_exec?.process?.arguments === tag &&
          e.process_exec.process.pod?.container?.id !== undefined,
        { timeoutMs: 20_000 },
      );
      const p = e!.process_exec.process;
      const msg = JSON.stringify(p);
      assert.equal(p.pod.container.id, `containerd://${name}`, msg);
      assert.equal(p.pod.container.image?.name, "docker.io/vigil/metadata-test:1", msg);
      assert.equal(p.docker, name, msg);
      assert.equal(p.pod.name, undefined, "not a Kubernetes pod");
    }
  },
});
