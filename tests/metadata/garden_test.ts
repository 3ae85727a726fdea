/**
 * GardenSource against a local server on a unix socket speaking Garden's HTTP API (fixtures in
 * tests/fixtures/metadata/garden/, see their README for their origin).
 */
import assert from "node:assert/strict";
import { GardenSource } from "../../src/metadata/garden.ts";
import { fixtureJson, json, serveUnix, sleep } from "./_http_server.ts";

const LRP = "6f265890-5165-7fab-6b52-18d1";
const TASK = "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a9f";
const STG = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a";
const GONE = "0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d";
const APP = "9b1d2c3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e";

function gardenApi(handles?: string[]) {
  const list = fixtureJson<{ Handles: string[] }>("garden/containers.json");
  const bulk = fixtureJson<Record<string, unknown>>("garden/bulk_info.json");
  return (_req: Request, url: URL): Response => {
    if (url.pathname === "/containers") return json({ Handles: handles ?? list.Handles });
    if (url.pathname === "/containers/bulk_info") {
      const wanted = (url.searchParams.get("handles") ?? "").split(",");
      return json(Object.fromEntries(wanted.filter((h) => h in bulk).map((h) => [h, bulk[h]])));
    }
    return json({ Type: "", Message: "not found" }, 404);
  };
}

Deno.test("garden: app instance, task and staging containers carry the cf object", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigil-garden-" });
  const path = `${dir}/garden.sock`;
  await using srv = serveUnix(path, gardenApi());
  const source = new GardenSource({ socketPath: path, batchSize: 2 });
  try {
    await source.resync();
    assert.equal(source.health().state, "up");
    assert.deepEqual(source.lookup({ runtime: "garden", id: LRP }), {
      cf: {
        app_guid: APP,
        app_name: "billing-api",
        space: "production",
        space_guid: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
        org: "acme",
        org_guid: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        instance_index: 2,
        instance_guid: LRP,
        process_type: "web",
        workload: "app",
      },
      container: { id: `garden://${LRP}` },
    });
    const task = source.lookup({ runtime: "garden", id: TASK })?.cf;
    assert.equal(task?.workload, "task");
    assert.equal(task?.instance_index, 0);
    assert.equal(task?.app_name, "billing-api");
    // Staging: the older executor key and no network properties; workload from "STG".
    const stg = source.lookup({ runtime: "garden", id: STG })?.cf;
    assert.deepEqual(stg, {
      app_guid: APP,
      app_name: "billing-api",
      instance_index: 0,
      instance_guid: STG,
      workload: "staging",
    });
    // Not a Diego container: no cf object.
    assert.deepEqual(source.lookup({ runtime: "garden", id: "bpm-sidecar" }), {
      container: { id: "garden://bpm-sidecar" },
    });
    // bulk_info was asked in batches of 2.
    assert.deepEqual(srv.requests.filter((r) => r.startsWith("/containers/bulk_info")).length, 2);

    // refresh on cgroup mkdir; a handle Garden reports an error for is a miss.
    await source.refresh({ runtime: "garden", id: GONE });
    assert.equal(source.lookup({ runtime: "garden", id: GONE }), undefined);
    assert.equal(source.health().refreshErrors, 0);
  } finally {
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("garden: a destroyed container keeps resolving for the grace period; down and back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigil-garden-" });
  const path = `${dir}/garden.sock`;
  let handles = [LRP, TASK];
  let srv = serveUnix(path, (req, url) => gardenApi(handles)(req, url));
  const source = new GardenSource({ socketPath: path, enabled: true, cache: { graceMs: 400 } });
  try {
    await source.resync();
    handles = [LRP];
    await source.resync();
    assert.equal(source.lookup({ runtime: "garden", id: TASK })?.cf?.workload, "task");
    await sleep(450);
    assert.equal(source.lookup({ runtime: "garden", id: TASK }), undefined);

    await srv.close();
    await Deno.remove(path).catch(() => {});
    await source.resync();
    assert.equal(source.health().state, "down");
    assert.equal(source.lookup({ runtime: "garden", id: LRP })?.cf?.app_name, "billing-api");

    handles = [LRP, STG];
    srv = serveUnix(path, (req, url) => gardenApi(handles)(req, url));
    const deadline = Date.now() + 10_000;
    while (source.health().state !== "up" && Date.now() < deadline) {
      await source.resync();
      await sleep(100);
    }
    assert.equal(source.health().state, "up");
    assert.equal(source.lookup({ runtime: "garden", id: STG })?.cf?.workload, "staging");
  } finally {
    await srv.close();
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
});
