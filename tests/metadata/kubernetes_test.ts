/**
 * KubernetesSource against a local HTTP server speaking the Kubernetes API's list and watch
 * wire format (fixtures in tests/fixtures/metadata/kubernetes/, see their README): paginated
 * list of this node's pods, a watch stream with ADDED/MODIFIED/DELETED/BOOKMARK events, a 410
 * Gone both as an ERROR event and as an HTTP status, the API server going away and coming back.
 */
import assert from "node:assert/strict";
import { KubernetesSource, workloadOf } from "../../src/metadata/kubernetes.ts";
import { kubeconfigConnection } from "../../src/metadata/kubeconfig.ts";
import { fixture, fixtureJson, json, serveTcp, sleep, type TestServer } from "./_http_server.ts";

const T = { sanitizeOps: false, sanitizeResources: false };
const h = (c: string) => c.repeat(32);

interface Pod {
  metadata: { uid: string; name: string; resourceVersion?: string };
  [k: string]: unknown;
}

class FakeApiServer {
  pods = new Map<string, Pod>();
  rv = 1000;
  streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  goneOnNextWatch = false;
  server: TestServer;
  readonly #enc = new TextEncoder();

  constructor(port = 0) {
    const list = fixtureJson<{ items: Pod[] }>("kubernetes/pod_list.json");
    for (const p of list.items) this.pods.set(p.metadata.uid, p);
    this.server = this.#serve(port);
  }

  #serve(port: number): TestServer {
    return serveTcp((req, url) => this.#handle(req, url), port);
  }

  restart(): void {
    this.server = this.#serve(Number(new URL(this.server.address).port));
  }

  #handle(req: Request, url: URL): Response {
    if (req.headers.get("authorization") !== "Bearer test-token") {
      return json({ kind: "Status", code: 401, reason: "Unauthorized" }, 401);
    }
    if (url.pathname !== "/api/v1/pods") return json({ kind: "Status", code: 404 }, 404);
    if (url.searchParams.get("fieldSelector") !== "spec.nodeName=node-a") {
      return json({ kind: "Status", code: 400, message: "expected this node's pods" }, 400);
    }
    if (url.searchParams.get("watch") === "1") {
      if (this.goneOnNextWatch) {
        this.goneOnNextWatch = false;
        return json({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          reason: "Expired",
          code: 410,
        }, 410);
      }
      const body = new ReadableStream<Uint8Array>({
        start: (c) => void this.streams.push(c),
      });
      return new Response(body, { headers: { "content-type": "application/json" } });
    }
    const items = [...this.pods.values()];
    const limit = Number(url.searchParams.get("limit") ?? items.length);
    const from = Number(url.searchParams.get("continue") || "0");
    const page = items.slice(from, from + limit);
    const next = from + limit < items.length ? String(from + limit) : undefined;
    return json({
      kind: "PodList",
      apiVersion: "v1",
      metadata: { resourceVersion: String(this.rv), ...(next ? { continue: next } : {}) },
      items: page,
    });
  }

  /** Sends one watch event line on the open watch and applies it to the server's state. */
  push(line: string): void {
    const e = JSON.parse(line) as { type: string; object: Pod & { code?: number } };
    if (e.type === "ADDED" || e.type === "MODIFIED") this.pods.set(e.object.metadata.uid, e.object);
    if (e.type === "DELETED") this.pods.delete(e.object.metadata.uid);
    const rv = Number(e.object.metadata?.resourceVersion);
    if (rv) this.rv = rv;
    this.streams.at(-1)?.enqueue(this.#enc.encode(line + "\n"));
  }

  endWatches(): void {
    for (const c of this.streams.splice(0)) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
  }

  watchRequests(): string[] {
    return this.server.requests.filter((r) => r.includes("watch=1"));
  }

  async close(): Promise<void> {
    this.endWatches();
    await this.server.close();
  }
}

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

async function writeKubeconfig(dir: string, server: string): Promise<string> {
  const path = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: test",
      "clusters:",
      "- name: local",
      "  cluster:",
      `    server: ${server}`,
      "contexts:",
      "- name: test",
      "  context: {cluster: local, user: agent}",
      "users:",
      "- name: agent",
      "  user: {token: test-token}",
      "",
    ].join("\n"),
  );
  return path;
}

Deno.test({
  name: "kubernetes: list + watch of this node's pods, 410 Gone, API server down and back",
  ...T,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "vigil-kube-" });
    const api = new FakeApiServer();
    const events = fixture("kubernetes/watch_events.jsonl").trim().split("\n");
    const source = new KubernetesSource({
      kubeconfig: await writeKubeconfig(dir, api.server.address),
      nodeName: "node-a",
      pageSize: 2,
      backoffMinMs: 100,
      backoffMaxMs: 400,
      cache: { graceMs: 300 },
    });
    try {
      await source.resync();
      assert.equal(source.health().state, "up", source.health().lastError ?? "");
      assert.equal(source.lists, 1);
      const listCalls = api.server.requests.filter((r) => !r.includes("watch=1"));
      assert.equal(listCalls.length, 3, "5 pods in pages of 2");
      assert.ok(listCalls.every((r) => r.includes("fieldSelector=spec.nodeName%3Dnode-a")));

      const front = source.lookup({ runtime: "containerd", id: h("1a") });
      assert.deepEqual(front, {
        pod: {
          namespace: "shop",
          name: "frontend-6f7c9d8b5d-abcde",
          uid: "6c1a0c2e-2f44-4b11-9a57-3f0c7d3f1a01",
          pod_labels: { app: "frontend", "pod-template-hash": "6f7c9d8b5d" },
          workload: "frontend",
          workload_kind: "Deployment",
          container: {
            id: `containerd://${h("1a")}`,
            name: "nginx",
            image: {
              id: `docker.io/library/nginx@sha256:${h("a1")}`,
              name: "docker.io/library/nginx:1.27",
            },
            start_time: "2025-03-01T09:00:05Z",
          },
        },
      });
      assert.equal(
        source.lookup({ runtime: "containerd", id: h("1b") })?.pod?.container?.name,
        "init-config",
      );
      const db = source.lookup({ runtime: "containerd", id: h("2a") })?.pod;
      assert.deepEqual([db?.workload, db?.workload_kind], ["db", "StatefulSet"]);
      const ne = source.lookup({ runtime: "cri-o", id: h("3a") })?.pod;
      assert.deepEqual([ne?.workload, ne?.workload_kind, ne?.container?.id], [
        "node-exporter",
        "DaemonSet",
        `cri-o://${h("3a")}`,
      ]);
      const dbg = source.lookup({ runtime: "containerd", id: h("4a") })?.pod;
      assert.deepEqual([dbg?.workload, dbg?.workload_kind], ["debug", "Pod"]);
      // Pending: no containerID yet; the pod UID from the cgroup path still answers.
      const pendingUid = "6c1a0c2e-2f44-4b11-9a57-3f0c7d3f1a05";
      assert.equal(source.lookup({ runtime: "containerd", id: h("6a") }), undefined);
      const pending = source.lookup({ runtime: "containerd", id: h("6a"), podUid: pendingUid })
        ?.pod;
      assert.deepEqual([
        pending?.name,
        pending?.workload,
        pending?.workload_kind,
        pending?.container,
      ], [
        "worker-5b8c7d6f9-zz9zz",
        "worker-5b8c7d6f9",
        "ReplicaSet",
        undefined,
      ]);

      // The watch starts from the list's resourceVersion.
      await until("watch", () => api.streams.length === 1);
      assert.match(api.watchRequests()[0] ?? "", /resourceVersion=1000/);
      assert.match(api.watchRequests()[0] ?? "", /allowWatchBookmarks=true/);

      api.push(events[0] as string); // ADDED: a CronJob's pod
      await until(
        "ADDED",
        () => source.lookup({ runtime: "containerd", id: h("5a") }) !== undefined,
      );
      const report = source.lookup({ runtime: "containerd", id: h("5a") })?.pod;
      assert.deepEqual([report?.workload, report?.workload_kind], ["report", "CronJob"]);

      api.push(events[1] as string); // MODIFIED: the pending pod runs
      await until(
        "MODIFIED",
        () => source.lookup({ runtime: "containerd", id: h("6a") }) !== undefined,
      );
      assert.equal(
        source.lookup({ runtime: "containerd", id: h("6a") })?.pod?.container?.name,
        "worker",
      );

      api.push(events[2] as string); // DELETED: kept for the grace period
      await sleep(100);
      assert.equal(source.lookup({ runtime: "containerd", id: h("4a") })?.pod?.name, "debug");
      await sleep(300);
      assert.equal(source.lookup({ runtime: "containerd", id: h("4a") }), undefined);

      api.push(events[3] as string); // BOOKMARK
      // A pod the watch never told about, then ERROR 410: the source lists again.
      const extra = structuredClone(api.pods.get("6c1a0c2e-2f44-4b11-9a57-3f0c7d3f1a02")) as Pod;
      extra.metadata = {
        ...extra.metadata,
        uid: "6c1a0c2e-2f44-4b11-9a57-3f0c7d3f1a07",
        name: "db-1",
      };
      (extra.status as { containerStatuses: { containerID: string }[] }).containerStatuses[0]!
        .containerID = `containerd://${h("7a")}`;
      api.pods.set(extra.metadata.uid, extra);
      api.rv = 1200;
      api.push(events[4] as string);
      await until("relist after ERROR 410", () => source.lists === 2);
      assert.equal(source.lookup({ runtime: "containerd", id: h("7a") })?.pod?.name, "db-1");
      await until("new watch", () => api.watchRequests().length === 2);
      assert.match(api.watchRequests()[1] ?? "", /resourceVersion=1200/);

      // The server ends the watch; resuming it answers HTTP 410: list again.
      api.goneOnNextWatch = true;
      api.endWatches();
      await until("relist after HTTP 410", () => source.lists === 3);
      assert.equal(source.health().state, "up");

      // API server gone: down, lookups still answer; back: up and listed again.
      await until("watch before outage", () => api.streams.length === 1);
      await api.close();
      await until("down", () => source.health().state === "down");
      assert.equal(
        source.lookup({ runtime: "containerd", id: h("1a") })?.pod?.workload,
        "frontend",
      );
      api.restart();
      await until("up again", () => source.health().state === "up" && source.lists === 4);
      assert.equal(source.lookup({ runtime: "containerd", id: h("5a") })?.pod?.workload, "report");
    } finally {
      await source.close();
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("kubernetes: workload from owner references", () => {
  const pod = (owner?: { kind: string; name: string }, labels: Record<string, string> = {}) => ({
    metadata: {
      name: "p-1",
      labels,
      ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}),
    },
  });
  assert.deepEqual(
    workloadOf(
      pod({ kind: "ReplicaSet", name: "web-7d4b9c8f6" }, { "pod-template-hash": "7d4b9c8f6" }),
    ),
    {
      workload: "web",
      workload_kind: "Deployment",
    },
  );
  assert.deepEqual(workloadOf(pod({ kind: "ReplicaSet", name: "legacy-rs" })), {
    workload: "legacy-rs",
    workload_kind: "ReplicaSet",
  });
  assert.deepEqual(workloadOf(pod({ kind: "Job", name: "nightly-28950060" })), {
    workload: "nightly",
    workload_kind: "CronJob",
  });
  assert.deepEqual(workloadOf(pod({ kind: "Job", name: "migrate" })), {
    workload: "migrate",
    workload_kind: "Job",
  });
  assert.deepEqual(workloadOf(pod({ kind: "StatefulSet", name: "db" })), {
    workload: "db",
    workload_kind: "StatefulSet",
  });
  assert.deepEqual(workloadOf(pod({ kind: "DaemonSet", name: "agent" })), {
    workload: "agent",
    workload_kind: "DaemonSet",
  });
  assert.deepEqual(workloadOf(pod()), { workload: "p-1", workload_kind: "Pod" });
});

Deno.test("kubernetes: kubeconfig with inline CA, client cert and token file; unsupported auth refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigil-kube-" });
  try {
    const b64 = (s: string) => btoa(s);
    await Deno.writeTextFile(`${dir}/token`, "file-token\n");
    await Deno.writeTextFile(
      `${dir}/config`,
      `apiVersion: v1
current-context: a
clusters:
- name: c
  cluster:
    server: https://10.96.0.1:443/
    certificate-authority-data: ${b64("CA PEM")}
contexts:
- name: a
  context: {cluster: c, user: u}
- name: b
  context: {cluster: c, user: exec}
users:
- name: u
  user:
    client-certificate-data: ${b64("CERT PEM")}
    client-key-data: ${b64("KEY PEM")}
    tokenFile: token
- name: exec
  user:
    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1}
`,
    );
    const conn = await kubeconfigConnection(`${dir}/config`);
    assert.equal(conn.server, "https://10.96.0.1:443");
    assert.equal(conn.caPem, "CA PEM");
    assert.equal(conn.certPem, "CERT PEM");
    assert.equal(conn.keyPem, "KEY PEM");
    assert.equal(conn.tokenFile, `${dir}/token`);
    await assert.rejects(() => kubeconfigConnection(`${dir}/config`, "b"), /exec/);
    // No configuration at all: disabled when auto, down when required; never throws.
    const auto = new KubernetesSource({
      connection: undefined,
      kubeconfig: undefined,
      nodeName: "n",
    });
    const state = auto.health().state;
    assert.ok(state === "disabled" || state === "up" || state === "down");
    await auto.close();
    const required = new KubernetesSource({
      kubeconfig: `${dir}/missing`,
      enabled: true,
      nodeName: "n",
    });
    assert.equal(required.health().state, "down");
    await required.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
