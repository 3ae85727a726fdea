/**
 * DockerSource against a local HTTP server on a unix socket that answers with Docker Engine API
 * responses (fixtures in tests/fixtures/metadata/docker/, see their README for their origin).
 */
import assert from "node:assert/strict";
import { DockerSource } from "../../src/metadata/docker.ts";
import { fixtureJson, json, serveUnix, sleep, type TestServer } from "./_http_server.ts";

const WEB = "4c01db0b339c7a2f1c4f3e1f0b9d7e6a5c4b3a29181716151413121110090807";
const SANDBOX = "a8e1b5f2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8091a2b3c4d5e6f";
const API = "f00dfacecafe0123456789abcdef0123456789abcdef0123456789abcdef0123";
const LATE = "1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e1a7e";

interface Summary {
  Id: string;
  Labels?: Record<string, string>;
}

function dockerApi(options: { includeLate?: boolean; delayMs?: number } = {}) {
  const list = fixtureJson<Summary[]>("docker/containers.json");
  return async (_req: Request, url: URL, closing: AbortSignal): Promise<Response> => {
    if (options.delayMs) await sleep(options.delayMs, closing);
    const path = url.pathname.replace(/^\/v1\.\d+/, "");
    if (path === "/containers/json") {
      const filters = url.searchParams.get("filters");
      if (!filters) return json(list);
      const wanted: string[] = JSON.parse(filters).label ?? [];
      return json(list.filter((c) =>
        wanted.every((kv) => {
          const [k, v] = kv.split("=");
          return c.Labels?.[k as string] === v;
        })
      ));
    }
    const m = /^\/containers\/([^/]+)\/json$/.exec(path);
    if (m) {
      const id = m[1] as string;
      if (id === LATE && options.includeLate) {
        const api = fixtureJson<Record<string, unknown>>(`docker/inspect_${API}.json`);
        const config = api.Config as Record<string, unknown>;
        const labels = { ...(config.Labels as Record<string, string>) };
        labels["io.kubernetes.container.name"] = "migrate";
        return json({
          ...api,
          Id: LATE,
          Name: "/k8s_migrate_x",
          Config: { ...config, Labels: labels },
        });
      }
      try {
        return json(fixtureJson(`docker/inspect_${id}.json`));
      } catch {
        return json({ message: `No such container: ${id}` }, 404);
      }
    }
    return json({ message: "page not found" }, 404);
  };
}

async function tempSocket(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "vigil-docker-" });
  return { dir, path: `${dir}/docker.sock` };
}

Deno.test("docker: plain and Kubernetes (cri-dockerd) containers", async () => {
  const { dir, path } = await tempSocket();
  await using srv = serveUnix(path, dockerApi({ includeLate: true }));
  const source = new DockerSource({ socketPath: path });
  try {
    await source.resync();
    assert.equal(source.health().state, "up");
    assert.equal(source.health().entries, 3);

    assert.deepEqual(source.lookup({ runtime: "docker", id: WEB }), {
      container: {
        id: `docker://${WEB}`,
        name: "web",
        image: {
          name: "nginx:1.27",
          id: "sha256:9bea9f2796e236cb18c2b3ad561ff29f655d1001f9ec7247a0bc5e08d25652a1",
        },
        start_time: "2025-02-17T17:43:39.64001363Z",
      },
    });
    const api = source.lookup({ runtime: "containerd", id: API }); // runtime is only a hint
    assert.deepEqual(api?.pod, {
      namespace: "prod",
      name: "api-6d9f7c8b5-kx2lp",
      uid: "1f0e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
      container: {
        id: `docker://${API}`,
        name: "api",
        image: {
          name: "ghcr.io/example/api:2.4.1",
          id: "sha256:2d4f1c9e8b7a6d5c4b3a291807f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c",
        },
        start_time: "2025-02-17T16:33:23.90112474Z",
      },
      pod_labels: { app: "api", "pod-template-hash": "6d9f7c8b5" },
    });
    assert.equal(
      source.lookup({ runtime: "docker", id: SANDBOX })?.pod?.container?.name,
      undefined,
    );

    // A second sync inspects nothing new.
    const before = srv.requests.length;
    await source.resync();
    assert.deepEqual(srv.requests.slice(before), ["/containers/json"]);

    // refresh() on cgroup mkdir: one inspect.
    assert.equal(source.lookup({ runtime: "docker", id: LATE }), undefined);
    await source.refresh({ runtime: "docker", id: LATE });
    assert.equal(source.lookup({ runtime: "docker", id: LATE })?.pod?.container?.name, "migrate");
    // Unknown container: 404 is a miss, not an error.
    await source.refresh({ runtime: "docker", id: "0".repeat(64) });
    assert.equal(source.health().state, "up");
    assert.equal(source.health().refreshErrors, 0);
  } finally {
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docker: down (no socket, slow, server gone) and back; never throws", async () => {
  const { dir, path } = await tempSocket();
  const auto = new DockerSource({ socketPath: path });
  const source = new DockerSource({ socketPath: path, enabled: true, timeoutMs: 300 });
  let srv: TestServer | undefined;
  try {
    assert.equal(auto.health().state, "disabled");
    await source.resync();
    assert.equal(source.health().state, "down");

    // Slow: each request outlives the deadline.
    srv = serveUnix(path, dockerApi({ delayMs: 5_000 }));
    await sleep(1_200); // past the first backoff delay
    const t0 = Date.now();
    await source.resync();
    assert.ok(Date.now() - t0 < 2_000, "a slow daemon costs one deadline");
    assert.equal(source.health().state, "down");
    assert.match(source.health().lastError ?? "", /time|abort/i);
    await srv.close();

    // Back, answering.
    srv = serveUnix(path, dockerApi());
    const deadline = Date.now() + 10_000;
    while (source.health().state !== "up" && Date.now() < deadline) {
      await source.resync();
      await sleep(100);
    }
    assert.equal(source.health().state, "up");
    assert.equal(source.lookup({ runtime: "docker", id: WEB })?.container?.name, "web");
    await auto.resync();
    assert.equal(auto.health().state, "up");

    // Gone: down, cached entries keep answering.
    await srv.close();
    srv = undefined;
    await Deno.remove(path).catch(() => {});
    await source.resync();
    assert.equal(source.health().state, "down");
    assert.equal(source.lookup({ runtime: "docker", id: WEB })?.container?.name, "web");
    await source.refresh({ runtime: "docker", id: LATE });
  } finally {
    await srv?.close();
    await source.close();
    await auto.close();
    await Deno.remove(dir, { recursive: true });
  }
});
