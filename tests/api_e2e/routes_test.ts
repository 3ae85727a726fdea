/**
 * Every route and error code of the API of the REAL agent (`main.ts run`), over its unix socket and
 * over 127.0.0.1 with port 0: health, readiness, status, metrics, the policy routes (list, YAML,
 * add, replace, delete, reload, with the policy directory on disk following), the event stream,
 * 400/401/404/413 with JSON error bodies, and the request counters those calls leave in /metrics.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import {
  Api,
  readyAddress,
  SeqCollector,
  seqPolicy,
  seqPrefix,
  sleep,
  startGenerator,
  unrunnablePolicy,
} from "./_e2e.ts";
import { requires } from "../_helpers/requires.ts";

/** An error answer: JSON `{error}` with a message and no stack trace. */
function assertError(
  answer: { status: number; json: unknown; text: string; headers: Headers },
  status: number,
  message: RegExp,
): void {
  assert.equal(answer.status, status, answer.text);
  assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
  const body = answer.json as { error?: unknown };
  assert.equal(typeof body?.error, "string", answer.text);
  assert.match(body.error as string, message);
  assert.doesNotMatch(answer.text, /\n\s+at |\.ts:\d+:\d+/, "no stack trace in errors");
}

Deno.test(
  requires(
    "real agent over its unix socket: every route, every error code, the policy dir",
    "root",
  ),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-policies-" });
    const prefix = seqPrefix();
    await Deno.writeTextFile(`${policyDir}/a.yaml`, seqPolicy("e2e-a", prefix, "A v1"));
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);

    // The socket is the agent's own, mode 0600.
    const sock = await Deno.lstat(agent.api.slice("unix:".length));
    assert.ok(sock.isSocket);
    assert.equal(sock.mode! & 0o777, 0o600);

    // Reads need the token too (issue 14 item 6), except the probes and the scrape.
    for (const path of ["/events", "/policies", "/policies/e2e-a", "/status"]) {
      for (const auth of [null, "Bearer wrong-token"]) {
        assertError(await api.request("GET", path, { auth }), 401, /bearer token/);
      }
    }
    for (const path of ["/healthz", "/readyz", "/metrics"]) {
      assert.equal((await api.getWithoutToken(path)).status, 200, path);
    }

    // Health, readiness, status.
    let r = await api.get("/healthz");
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: "ok" });
    r = await api.get("/readyz");
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { ready: true });
    r = await api.get("/status");
    assert.equal(r.status, 200);
    assert.equal(typeof r.json.version, "string");
    assert.ok(r.json.kernel?.features, "kernel features (vigil probe) in /status");
    assert.equal(typeof r.json.cgroup?.mountpoint, "string");
    assert.ok(Array.isArray(r.json.cgroup?.decision), "cgroup decision in /status");
    assert.ok(r.json.programs.includes("vigil_exec"));
    assert.deepEqual(r.json.policies, [{ name: "e2e-a", state: "enabled" }]);

    // GET /policies and GET /policies/:name (the YAML as loaded).
    r = await api.get("/policies");
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.policies.map((p: { name: string }) => p.name), ["e2e-a"]);
    const a = r.json.policies[0];
    assert.equal(a.state, "enabled");
    assert.equal(a.hooks.length, 1);
    assert.equal(a.hooks[0].attached, true);
    assert.match(a.hooks[0].mechanism, /syscalls\/sys_enter_unlinkat/);
    assert.deepEqual(Object.keys(a.counters).sort(), [
      "filtered",
      "posted",
      "rateLimited",
      "seen",
      "signals",
    ]);
    r = await api.get("/policies/e2e-a");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^application\/yaml/);
    assert.equal(r.text, seqPolicy("e2e-a", prefix, "A v1"));

    // 404: unknown policy (GET, DELETE), unknown route.
    assertError(await api.get("/policies/nope"), 404, /no policy named 'nope'/);
    assertError(
      await api.request("DELETE", "/policies/nope"),
      404,
      /no policy named 'nope'/,
    );
    assertError(await api.get("/nope"), 404, /no route for GET \/nope/);

    // 401: missing, malformed and wrong tokens, on every mutating route; nothing changes.
    const b1 = seqPolicy("e2e-b", prefix, "B v1", ["e2e.v1"]);
    for (const auth of [null, "Basic abc", "Bearer wrong-token", `Bearer ${api.token}x`]) {
      assertError(await api.postPolicy(b1, auth), 401, /token|Authorization/);
      assertError(
        await api.request("DELETE", "/policies/e2e-a", { auth }),
        401,
        /token|Authorization/,
      );
      assertError(
        await api.request("POST", "/policies/reload", { auth }),
        401,
        /token|Authorization/,
      );
    }
    r = await api.get("/policies");
    assert.deepEqual(r.json.policies.map((p: { name: string }) => p.name), ["e2e-a"]);
    assert.deepEqual([...Deno.readDirSync(policyDir)].map((e) => e.name), ["a.yaml"]);

    // 413: a body over 1 MiB, with a good token (without one, 401 comes first).
    const huge = "#".repeat(1024 * 1024 + 1);
    assertError(await api.postPolicy(huge), 413, /request body too large: the limit is 1048576/);
    assertError(await api.postPolicy(huge, null), 401, /missing bearer token/);

    // 400: empty body, YAML syntax error (with line and column), invalid policy, not runnable.
    assertError(await api.postPolicy("  \n"), 400, /empty request body/);
    r = await api.postPolicy("apiVersion: cilium.io/v1alpha1\nkind: [\n");
    assertError(r, 400, /policy rejected: YAML syntax error/);
    assert.equal(typeof r.json.errors[0].line, "number");
    assert.equal(typeof r.json.errors[0].column, "number");
    r = await api.postPolicy(b1.replace("index: 1\n", "index: 9\n"));
    assertError(r, 400, /policy rejected: .*index/);
    assert.equal(r.json.errors[0].line, 11); // "- index: 9"
    assert.match(r.json.errors[0].path, /^spec\.kprobes\[0\]\.args\[0\]/);
    r = await api.postPolicy(
      seqPolicy("e2e-nosys", prefix, "no such syscall").replace(
        "sys_unlinkat",
        "sys_no_such_call_at_all",
      ),
    );
    assertError(r, 400, /policy rejected: .*sys_no_such_call_at_all/);
    r = await api.postPolicy(unrunnablePolicy("e2e-unrunnable"));
    assertError(r, 400, /policy rejected: .*do_unlinkat/);
    // A NEW policy that parses but cannot run is refused (400) yet listed in the error state
    // with its reason, as a policy file that fails at start is; it is not written to the
    // directory, and DELETE removes it. A policy that does not parse leaves nothing.
    r = await api.get("/policies");
    assert.deepEqual(
      r.json.policies.map((p: { name: string; state: string }) => `${p.name}:${p.state}`),
      ["e2e-a:enabled", "e2e-nosys:error", "e2e-unrunnable:error"],
    );
    assert.match(r.json.policies[2].reason, /do_unlinkat/);
    assert.equal((await api.request("DELETE", "/policies/e2e-nosys")).status, 200);
    assert.equal((await api.request("DELETE", "/policies/e2e-unrunnable")).status, 200);
    assert.deepEqual([...Deno.readDirSync(policyDir)].map((e) => e.name), ["a.yaml"]);

    // POST /policies: add (200, replaced false), written to the policy directory.
    r = await api.postPolicy(b1);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.replaced, false);
    assert.equal(r.json.policy.name, "e2e-b");
    assert.equal(r.json.policy.state, "enabled");
    assert.equal(await Deno.readTextFile(`${policyDir}/e2e-b.yaml`), b1);
    assert.equal((await api.get("/policies/e2e-b")).text, b1);

    // Events flow for both; the stream filters by policy.
    const collector = new SeqCollector(agent.exportPath, prefix);
    const stream = await api.stream("/events?policy=e2e-b&type=process_kprobe");
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get("content-type"), "application/x-ndjson");
    const gen = startGenerator(prefix, 200);
    const streamed: string[] = [];
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    while (streamed.length < 20) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the stream stays open");
      pending += value;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      streamed.push(...lines);
    }
    await reader.cancel();
    for (const line of streamed) {
      const e = JSON.parse(line);
      assert.equal(e.process_kprobe.policy_name, "e2e-b");
    }
    await collector.waitFor((e) => e.policy === "e2e-a", 20);
    await collector.waitFor((e) => e.message === "B v1", 20);

    // POST /policies again with the same name: replace (200, replaced true), file rewritten.
    const b2 = seqPolicy("e2e-b", prefix, "B v2", ["e2e.v2"]);
    r = await api.postPolicy(b2);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.replaced, true);
    assert.equal(await Deno.readTextFile(`${policyDir}/e2e-b.yaml`), b2);
    assert.equal((await api.get("/policies/e2e-b")).text, b2);
    await collector.waitFor((e) => e.message === "B v2", 20);

    // POST /policies/reload: a changed file replaces its policy; a broken file → 400, and the
    // previous version keeps running.
    const a2 = seqPolicy("e2e-a", prefix, "A v2");
    await Deno.writeTextFile(`${policyDir}/a.yaml`, a2);
    r = await api.request("POST", "/policies/reload");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.errors, []);
    assert.deepEqual(r.json.policies.map((p: { name: string }) => p.name), ["e2e-a", "e2e-b"]);
    assert.equal((await api.get("/policies/e2e-a")).text, a2);
    await collector.waitFor((e) => e.message === "A v2", 20);
    await Deno.writeTextFile(`${policyDir}/a.yaml`, "kind: [\n");
    r = await api.request("POST", "/policies/reload");
    assertError(r, 400, /reload: 1 policy file failed; previous versions of those policies keep/);
    assert.equal(r.json.errors[0].file, `${policyDir}/a.yaml`);
    assert.equal((await api.get("/policies/e2e-a")).text, a2);
    const before = collector.where((e) => e.message === "A v2").length;
    await collector.waitFor((e) => e.message === "A v2", before + 20);

    // DELETE /policies/:name: 200, detached, file removed; its events stop.
    r = await api.request("DELETE", "/policies/e2e-b");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.deleted, "e2e-b");
    assert.deepEqual(r.json.policies.map((p: { name: string }) => p.name), ["e2e-a"]);
    await assert.rejects(Deno.stat(`${policyDir}/e2e-b.yaml`), Deno.errors.NotFound);
    assertError(await api.get("/policies/e2e-b"), 404, /no policy named 'e2e-b'/);
    await sleep(300); // events already in the ring when the hook went may still arrive
    const bCount = collector.where((e) => e.policy === "e2e-b").length;
    const aCount = collector.where((e) => e.policy === "e2e-a").length;
    await collector.waitFor((e) => e.policy === "e2e-a", aCount + 40);
    assert.equal(collector.where((e) => e.policy === "e2e-b").length, bCount, "B stopped");
    await gen.stop();

    // Every request above is counted by route pattern and code.
    const metrics = (await api.get("/metrics")).text;
    for (
      const [method, route, code] of [
        ["GET", "/healthz", 200],
        ["GET", "/readyz", 200],
        ["GET", "/status", 200],
        ["GET", "/policies", 200],
        ["GET", "/policies/:name", 200],
        ["GET", "/policies/:name", 404],
        ["DELETE", "/policies/:name", 404],
        ["DELETE", "/policies/:name", 401],
        ["DELETE", "/policies/:name", 200],
        ["GET", "unmatched", 404],
        ["POST", "/policies", 401],
        ["POST", "/policies", 413],
        ["POST", "/policies", 400],
        ["POST", "/policies", 200],
        ["POST", "/policies/reload", 200],
        ["POST", "/policies/reload", 400],
        ["GET", "/events", 200],
      ] as const
    ) {
      const line = `vigil_api_requests_total{method="${method}",route="${route}",code="${code}"}`;
      assert.ok(metrics.includes(line), `${line} in /metrics`);
    }
    await Deno.remove(policyDir, { recursive: true });
  },
);

Deno.test(
  requires(
    "real agent on --listen 127.0.0.1:0: the real port on the ready line, auth over TCP",
    "root",
  ),
  async () => {
    await using agent = await startAgentProcess({ args: ["--listen", "127.0.0.1:0"] });
    const address = readyAddress(agent);
    const m = /^127\.0\.0\.1:(\d+)$/.exec(address);
    assert.ok(m && Number(m[1]) > 0, address);
    using api = await Api.of(agent, address);
    assert.deepEqual((await api.get("/healthz")).json, { status: "ok" });
    assert.deepEqual((await api.get("/readyz")).json, { ready: true });
    assertError(await api.get("/policies/x"), 404, /no policy named 'x'/);
    const prefix = seqPrefix();
    const yaml = seqPolicy("e2e-tcp", prefix, "over TCP");
    assertError(await api.postPolicy(yaml, null), 401, /missing bearer token/);
    assertError(await api.postPolicy(yaml, "Bearer nope"), 401, /invalid bearer token/);
    const r = await api.postPolicy(yaml);
    assert.equal(r.status, 200, r.text);
    assert.equal((await api.get("/policies/e2e-tcp")).text, yaml);
    // No policy directory: the policy lives in memory only.
    assert.equal(r.json.policy.file, "api");
    const collector = new SeqCollector(agent.exportPath, prefix);
    const gen = startGenerator(prefix, 0, { count: 50 });
    await collector.waitFor((e) => e.message === "over TCP", 50);
    await gen.stop();
    assert.equal((await api.request("DELETE", "/policies/e2e-tcp")).status, 200);
    assert.deepEqual((await api.get("/policies")).json, { policies: [] });
    // Nothing else on that port: the agent owns it until it stops.
    assert.equal(await agent.stop(), 0);
    await assert.rejects(fetch(`http://${address}/healthz`));
  },
);
