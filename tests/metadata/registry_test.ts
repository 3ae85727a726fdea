/**
 * MetadataRegistry: first hit wins and later sources fill gaps, counters, health, refresh
 * fan-out and dedup, and a source that throws or hangs never reaches the caller.
 */
import assert from "node:assert/strict";
import { MetadataRegistry } from "../../src/metadata/registry.ts";
import type {
  ContainerRef,
  MetadataSource,
  SourceHealth,
  WorkloadMetadata,
} from "../../src/metadata/types.ts";

class FakeSource implements MetadataSource {
  readonly name: string;
  data = new Map<string, WorkloadMetadata>();
  refreshes = 0;
  resyncs = 0;
  behaviour: "ok" | "throw" | "hang" = "ok";

  constructor(name: string) {
    this.name = name;
  }

  health(): SourceHealth {
    return { state: this.behaviour === "ok" ? "up" : "down" };
  }

  lookup(ref: ContainerRef): WorkloadMetadata | undefined {
    if (this.behaviour === "throw") throw new Error("broken lookup");
    return this.data.get(ref.id);
  }

  refresh(_ref: ContainerRef): Promise<void> {
    this.refreshes++;
    if (this.behaviour === "throw") return Promise.reject(new Error("refresh failed"));
    if (this.behaviour === "hang") return new Promise(() => {});
    return new Promise((r) => setTimeout(r, 10));
  }

  resync(): Promise<void> {
    this.resyncs++;
    if (this.behaviour === "hang") return new Promise(() => {});
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const ref = (id: string): ContainerRef => ({ runtime: "containerd", id, podUid: null });

Deno.test("registry: first hit wins, later sources fill missing fields; counters", async () => {
  const runtime = new FakeSource("containerd");
  const kube = new FakeSource("kubernetes");
  runtime.data.set("c1", {
    pod: {
      namespace: "shop",
      name: "web-1",
      container: { id: "containerd://c1", name: "nginx", image: { name: "nginx:1.27" } },
    },
  });
  kube.data.set("c1", {
    pod: {
      namespace: "other", // loses to the first source
      workload: "web",
      workload_kind: "Deployment",
      container: { id: "containerd://c1", image: { id: "nginx@sha256:ab" }, start_time: "T" },
    },
  });
  kube.data.set("c2", { pod: { name: "only-kube" } });
  const reg = new MetadataRegistry({ sources: [runtime, kube], resyncIntervalMs: 0 });
  const md = reg.lookup(ref("c1"));
  assert.deepEqual(md, {
    pod: {
      namespace: "shop",
      name: "web-1",
      workload: "web",
      workload_kind: "Deployment",
      container: {
        id: "containerd://c1",
        name: "nginx",
        image: { name: "nginx:1.27", id: "nginx@sha256:ab" },
        start_time: "T",
      },
    },
  });
  assert.equal(reg.lookup(ref("c1")), md, "the merged object is reused");
  assert.equal(reg.lookup(ref("c2"))?.pod?.name, "only-kube");
  assert.equal(reg.lookup(ref("nope")), undefined);
  const c = reg.counters();
  assert.deepEqual([c.lookups, c.hits, c.misses], [4, 3, 1]);
  assert.deepEqual(c.perSource.containerd, { hits: 2, refreshErrors: 0 });
  assert.deepEqual(c.perSource.kubernetes, { hits: 3, refreshErrors: 0 });
  assert.deepEqual(reg.health(), { containerd: { state: "up" }, kubernetes: { state: "up" } });
  await reg.close();
});

Deno.test("registry: a throwing or hanging source never reaches the caller", async () => {
  const good = new FakeSource("good");
  const bad = new FakeSource("bad");
  const slow = new FakeSource("slow");
  good.data.set("c1", { cf: { app_name: "billing" } });
  bad.behaviour = "throw";
  slow.behaviour = "hang";
  const reg = new MetadataRegistry({
    sources: [bad, slow, good],
    resyncIntervalMs: 0,
    timeoutMs: 100,
  });
  assert.equal(reg.lookup(ref("c1"))?.cf?.app_name, "billing");
  // Concurrent refreshes of one container share a round.
  const t0 = Date.now();
  await Promise.all([reg.refresh(ref("c1")), reg.refresh(ref("c1"))]);
  assert.ok(Date.now() - t0 < 1000);
  assert.deepEqual([good.refreshes, bad.refreshes, slow.refreshes], [1, 1, 1]);
  const c = reg.counters();
  assert.equal(c.refreshes, 1);
  assert.equal(c.refreshErrors, 2);
  assert.equal(c.perSource.slow?.refreshErrors, 1);
  await reg.start(); // the hanging resync times out
  assert.equal(reg.health().bad?.state, "down");
  await reg.close();
});

Deno.test("registry: periodic resync", async () => {
  const s = new FakeSource("s");
  const reg = new MetadataRegistry({ sources: [s], resyncIntervalMs: 30 });
  await reg.start();
  await new Promise((r) => setTimeout(r, 200));
  await reg.close();
  assert.ok(s.resyncs >= 3, `resyncs: ${s.resyncs}`);
  const n = s.resyncs;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(s.resyncs, n, "stopped by close()");
});
