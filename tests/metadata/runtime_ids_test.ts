/**
 * Containers whose cgroup leaf is their containerd name rather than a 64-hex id (`ctr run
 * --cgroup /<group>/<name> … <name>`), against a real containerd: no path rule can know such a
 * leaf, so the cgroup registry matches leaves against the ids containerd reports.
 */
import assert from "node:assert/strict";
import { parseContainerPath } from "../../src/cgroup/container.ts";
import { CgroupRegistry } from "../../src/cgroup/registry.ts";
import { ContainerdSource } from "../../src/metadata/containerd.ts";
import { MetadataRegistry } from "../../src/metadata/registry.ts";
import { ContainerdDaemon } from "./_containerd.ts";
import { requires } from "../_helpers/requires.ts";

const T = { sanitizeOps: false, sanitizeResources: false };

/** The memory-hierarchy cgroup path of `pid` (what the agent's registry holds on this host). */
function cgroupPathOf(pid: number): string {
  const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n");
  const line = lines.find((l) => l.split(":")[1]?.split(",").includes("memory")) ??
    lines.find((l) => l.startsWith("0::")) ?? "";
  return line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
}

Deno.test({
  ...requires(
    "containerd: a cgroup leaf named after the container resolves to its id",
    "containerd",
  ),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("default");
    const tag = crypto.randomUUID().slice(0, 8);
    const group = `/vigil-tenants-${tag}`;
    const early = `web-${tag}`;
    const earlyPid = await d.runContainer("default", early, { cgroup: `${group}/${early}` });
    const earlyPath = cgroupPathOf(earlyPid);
    assert.equal(earlyPath, `${group}/${early}`);
    // No layout rule can tell this leaf from a host cgroup.
    assert.equal(parseContainerPath(earlyPath), null);

    const metadata = new MetadataRegistry({
      sources: [new ContainerdSource({ socketPath: d.socket, enabled: true })],
      resyncIntervalMs: 0,
    });
    try {
      const registry = new CgroupRegistry();
      registry.setRuntimeIds((id) => metadata.runtimeOf(id));
      registry.seed(
        new Map([[101n, earlyPath], [102n, group], [103n, "/system.slice/cron.service"]]),
      );
      assert.equal(registry.lookup(101n)?.container, null, "not known before the first sync");

      // A container that existed before the sync: matched once the sync lists it.
      await metadata.resync();
      assert.equal(registry.rematch(), 1);
      assert.deepEqual(registry.lookup(101n)?.container, {
        runtime: "containerd",
        id: early,
        podUid: null,
        isRoot: true,
      });
      assert.equal(registry.lookup(102n)?.container, null, "the group is not a container");
      assert.equal(registry.lookup(103n)?.container, null);
      const md = metadata.lookup({ runtime: "containerd", id: early });
      assert.equal(md?.container?.id, `containerd://${early}`);

      // A container started after the sync: its cgroup's mkdir asks containerd about the leaf.
      const late = `worker-${tag}`;
      const latePid = await d.runContainer("default", late, { cgroup: `${group}/${late}` });
      const latePath = cgroupPathOf(latePid);
      registry.onMkdir(104n, latePath);
      assert.equal(registry.lookup(104n)?.container, null);
      assert.equal(await metadata.learn(late), true);
      assert.equal(registry.rematch([104n]), 1);
      assert.equal(registry.lookup(104n)?.container?.id, late);
      // A sub-cgroup made inside it afterwards resolves to it directly, as not the root.
      registry.onMkdir(105n, `${latePath}/init`);
      assert.deepEqual(registry.lookup(105n)?.container, {
        runtime: "containerd",
        id: late,
        podUid: null,
        isRoot: false,
      });

      // A name containerd does not know is asked once, then not again until the next sync.
      assert.equal(await metadata.learn(`nobody-${tag}`), false);
      const refreshes = metadata.counters().refreshes;
      assert.equal(await metadata.learn(`nobody-${tag}`), false);
      assert.equal(metadata.counters().refreshes, refreshes);
      assert.equal(metadata.health().containerd?.state, "up");
    } finally {
      await metadata.close();
    }
  },
});
