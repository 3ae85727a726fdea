/**
 * ContainerdSource against a real containerd (Debian's package, private root/state/socket under
 * a temporary directory): containers created with `ctr` and kubelet-style labels in several
 * namespaces, pods run through the CRI runtime service as kubelet would (kubepods cgroups), and
 * the source-down case (socket absent, daemon stopped, daemon back).
 */
import assert from "node:assert/strict";
import { ContainerdSource } from "../../src/metadata/containerd.ts";
import { MetadataRegistry } from "../../src/metadata/registry.ts";
import { parseContainerPath } from "../../src/cgroup/container.ts";
import { ContainerdDaemon, TEST_IMAGE } from "./_containerd.ts";
import { requires } from "../_helpers/requires.ts";

const T = { sanitizeOps: false, sanitizeResources: false };

function hex64(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function until(what: string, ms: number, f: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what}`);
}

/** The container id of `pid` as the agent derives it, from /proc/<pid>/cgroup. */
function refOfPid(pid: number) {
  const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n");
  const unified = lines.find((l) => l.startsWith("0::")) ?? lines[0] ?? "";
  const parsed = parseContainerPath(unified.slice(unified.indexOf(":", 2) + 1));
  assert.ok(parsed, `no container in ${unified}`);
  return { runtime: parsed.runtime, id: parsed.id, podUid: parsed.podUid };
}

Deno.test({
  ...requires("containerd: ctr containers with kubelet labels, in every namespace", "containerd"),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("k8s.io");
    await d.importImage("default");
    const uid = crypto.randomUUID();
    const sandboxId = hex64();
    const appId = hex64();
    const podKeys = {
      "io.kubernetes.pod.namespace": "shop",
      "io.kubernetes.pod.name": "cart-5f7d8c9b4-x2x9q",
      "io.kubernetes.pod.uid": uid,
    };
    // The sandbox record carries the pod's labels, as containerd's CRI plugin stores them.
    await d.createContainer("k8s.io", sandboxId, {
      ...podKeys,
      "io.cri-containerd.kind": "sandbox",
      app: "cart",
      "pod-template-hash": "5f7d8c9b4",
    });
    const appPid = await d.runContainer("k8s.io", appId, {
      labels: {
        ...podKeys,
        "io.cri-containerd.kind": "container",
        "io.kubernetes.container.name": "cart",
      },
      cgroup: `/kubepods/besteffort/pod${uid}/${appId}`,
    });
    await d.runContainer("default", "plain-1", { labels: { "nerdctl/name": "plain" } });

    const source = new ContainerdSource({ socketPath: d.socket, enabled: true });
    try {
      await source.resync();
      const h = source.health();
      assert.equal(h.state, "up", h.lastError ?? "");
      assert.ok(h.lastSyncMs && h.lastSyncMs > Date.now() - 60_000);

      // The ref the agent derives from the process's real cgroup path.
      const ref = refOfPid(appPid);
      assert.deepEqual(ref, { runtime: "containerd", id: appId, podUid: uid });
      const md = source.lookup(ref);
      assert.ok(md?.pod, JSON.stringify(md));
      assert.equal(md.pod.namespace, "shop");
      assert.equal(md.pod.name, "cart-5f7d8c9b4-x2x9q");
      assert.equal(md.pod.uid, uid);
      assert.equal(md.pod.container?.id, `containerd://${appId}`);
      assert.equal(md.pod.container?.name, "cart");
      assert.equal(md.pod.container?.image?.name, TEST_IMAGE);
      assert.match(
        md.pod.container?.image?.id ?? "",
        /^docker\.io\/vigil\/metadata-test@sha256:[0-9a-f]{64}$/,
      );
      assert.match(md.pod.container?.start_time ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.deepEqual(md.pod.pod_labels, { app: "cart", "pod-template-hash": "5f7d8c9b4" });

      const plain = source.lookup({ runtime: "containerd", id: "plain-1" });
      assert.equal(plain?.pod, undefined);
      assert.equal(plain?.container?.name, "plain");
      assert.equal(plain?.container?.id, "containerd://plain-1");

      // A container created after the sync: a miss until refresh (cgroup mkdir) fetches it.
      const lateId = hex64();
      await d.createContainer("k8s.io", lateId, {
        ...podKeys,
        "io.cri-containerd.kind": "container",
        "io.kubernetes.container.name": "sidecar",
      });
      const lateRef = { runtime: "containerd" as const, id: lateId, podUid: uid };
      assert.equal(source.lookup(lateRef), undefined);
      await source.refresh(lateRef);
      const late = source.lookup(lateRef);
      assert.equal(late?.pod?.container?.name, "sidecar");
      assert.deepEqual(late?.pod?.pod_labels, { app: "cart", "pod-template-hash": "5f7d8c9b4" });

      // Unknown ids miss without error.
      await source.refresh({ runtime: "containerd", id: hex64() });
      assert.equal(source.health().state, "up");
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  ...requires(
    "containerd: a deleted container resolves during the grace period, then not",
    "containerd",
  ),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("k8s.io");
    const id = hex64();
    await d.createContainer("k8s.io", id, {
      "io.kubernetes.pod.namespace": "ns",
      "io.kubernetes.pod.name": "p",
      "io.kubernetes.pod.uid": crypto.randomUUID(),
      "io.kubernetes.container.name": "c",
    });
    const source = new ContainerdSource({
      socketPath: d.socket,
      enabled: true,
      cache: { graceMs: 1500 },
    });
    try {
      await source.resync();
      assert.equal(source.lookup({ runtime: "containerd", id })?.pod?.name, "p");
      await d.deleteContainer("k8s.io", id);
      await source.resync();
      assert.equal(
        source.lookup({ runtime: "containerd", id })?.pod?.name,
        "p",
        "kept for the grace period",
      );
      await new Promise((r) => setTimeout(r, 1600));
      assert.equal(source.lookup({ runtime: "containerd", id }), undefined, "expired after it");
    } finally {
      await source.close();
    }
  },
});

Deno.test({
  ...requires(
    "containerd CRI: pods run as kubelet does carry pod labels and annotations",
    "containerd",
  ),
  ...T,
  async fn() {
    await using d = await ContainerdDaemon.start();
    await d.importImage("k8s.io");
    const uid = crypto.randomUUID();
    const pod = await d.runPod({
      namespace: "payments",
      name: "api-0",
      uid,
      labels: { app: "api", "statefulset.kubernetes.io/pod-name": "api-0" },
      annotations: {
        "kubernetes.io/config.source": "api",
        "kubectl.kubernetes.io/last-applied-configuration": '{"huge":true}',
      },
      containers: [{ name: "server" }, { name: "worker", args: ["/bin/sh", "-c", "sleep 3600"] }],
    });
    const source = new ContainerdSource({
      socketPath: d.socket,
      enabled: true,
      podAnnotations: true,
    });
    const registry = new MetadataRegistry({ sources: [source], resyncIntervalMs: 0 });
    try {
      await registry.start();
      for (const [name, id] of Object.entries(pod.containers)) {
        const md = registry.lookup({ runtime: "containerd", id, podUid: uid });
        assert.ok(md?.pod, `${name}: ${JSON.stringify(md)}`);
        assert.equal(md.pod.namespace, "payments");
        assert.equal(md.pod.name, "api-0");
        assert.equal(md.pod.uid, uid);
        assert.equal(md.pod.container?.name, name);
        assert.deepEqual(md.pod.pod_labels, {
          app: "api",
          "statefulset.kubernetes.io/pod-name": "api-0",
        });
        assert.deepEqual(md.pod.pod_annotations, { "kubernetes.io/config.source": "api" });
      }
      // A pod started after the sync is found by refresh, its labels through CRI.
      const uid2 = crypto.randomUUID();
      const pod2 = await d.runPod({
        namespace: "payments",
        name: "job-1-abcde",
        uid: uid2,
        labels: { "job-name": "job-1" },
        containers: [{ name: "main" }],
      });
      const ref = {
        runtime: "containerd" as const,
        id: pod2.containers.main as string,
        podUid: uid2,
      };
      assert.equal(registry.lookup(ref), undefined);
      await registry.refresh(ref);
      const md2 = registry.lookup(ref);
      assert.equal(md2?.pod?.name, "job-1-abcde");
      assert.deepEqual(md2?.pod?.pod_labels, { "job-name": "job-1" });
      const c = registry.counters();
      assert.equal(c.misses, 1);
      assert.equal(c.hits, 3);
      assert.equal(c.refreshErrors, 0);
    } finally {
      await registry.close();
    }
  },
});

Deno.test({
  ...requires("containerd down: no socket, daemon stopped, daemon back", "containerd"),
  ...T,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigil-containerd-" });
    const socket = `${dir}/containerd.sock`;
    // auto-detect: no socket → disabled; explicit: no socket → down.
    const auto = new ContainerdSource({ socketPath: socket });
    const source = new ContainerdSource({ socketPath: socket, enabled: true, timeoutMs: 1000 });
    try {
      assert.equal(auto.health().state, "disabled");
      await source.resync();
      assert.equal(source.health().state, "down");
      assert.ok(source.health().lastError);
      const id = hex64();
      assert.equal(source.lookup({ runtime: "containerd", id }), undefined);
      await source.refresh({ runtime: "containerd", id }); // skipped or failed, never thrown

      await using d = await ContainerdDaemon.start({ dir });
      await d.importImage("k8s.io");
      await d.createContainer("k8s.io", id, {
        "io.kubernetes.pod.namespace": "ns",
        "io.kubernetes.pod.name": "back",
        "io.kubernetes.pod.uid": crypto.randomUUID(),
        "io.kubernetes.container.name": "c",
      });
      // Recovers once its backoff has passed.
      await until("source up", 15_000, async () => {
        await source.resync();
        return source.health().state === "up";
      });
      assert.equal(source.lookup({ runtime: "containerd", id })?.pod?.name, "back");
      await auto.resync();
      assert.equal(auto.health().state, "up", "auto-detected once the socket exists");

      // Stopped: down, cached entries still answer, nothing throws.
      await d.stop();
      await source.resync();
      assert.equal(source.health().state, "down");
      assert.equal(source.lookup({ runtime: "containerd", id })?.pod?.name, "back");
      await source.refresh({ runtime: "containerd", id: hex64() });

      // Back again.
      await d.resume();
      await until("source up again", 15_000, async () => {
        await source.resync();
        return source.health().state === "up";
      });
      assert.equal(source.lookup({ runtime: "containerd", id })?.pod?.name, "back");
    } finally {
      await source.close();
      await auto.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
