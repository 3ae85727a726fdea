/**
 * The REAL agent's life around its API: readiness (`READY=1`) reaches a real `NOTIFY_SOCKET`
 * listener once the API answers; policies added over the API survive a restart (they are in the
 * policy directory); SIGHUP re-reads the directory (changed, new and removed files); and an API
 * replacement of a policy that came from a file named otherwise than `<metadata.name>.yaml`
 * replaces that file, so neither SIGHUP nor a restart brings the old version back (and a DELETE
 * is not undone by them either).
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import {
  Api,
  NotifyListener,
  SeqCollector,
  seqPolicy,
  seqPrefix,
  sleep,
  startGenerator,
} from "./_e2e.ts";
import { scaled } from "../_helpers/time_scale.ts";
import { requires } from "../_helpers/requires.ts";

/** Polls `fn` until it returns true. */
async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + scaled(timeoutMs);
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function names(answer: { json: { policies: { name: string; state: string }[] } }): string[] {
  return answer.json.policies.map((p) => `${p.name}:${p.state}`);
}

Deno.test(
  requires("READY=1 reaches a real NOTIFY_SOCKET listener, then STOPPING=1", "root"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "vigil-e2e-notify-" });
    using listener = new NotifyListener(`${dir}/notify.sock`);
    const agent = await startAgentProcess({ env: { NOTIFY_SOCKET: listener.path } });
    try {
      const ready = await listener.waitFor("READY=1");
      assert.equal(ready, "READY=1\nSTATUS=ready: 0 policies\n");
      // Sent only once everything is up: the API already answers.
      using api = await Api.of(agent);
      assert.deepEqual((await api.get("/readyz")).json, { ready: true });
    } finally {
      assert.equal(await agent.stop(), 0);
      await agent[Symbol.asyncDispose]();
    }
    assert.ok(listener.poll().some((d) => d.startsWith("STOPPING=1")), listener.received.join("|"));
    assert.equal(listener.received.filter((d) => d.includes("READY=1")).length, 1);
    await Deno.remove(dir, { recursive: true });
  },
);

Deno.test(requires("a policy added over the API survives a restart", "root"), async () => {
  const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-persist-" });
  const prefix = seqPrefix();
  const yaml = seqPolicy("e2e-persist", prefix, "persisted", ["e2e.persist"]);
  {
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);
    const r = await api.postPolicy(yaml);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.policy.file, `${policyDir}/e2e-persist.yaml`);
    assert.equal(await agent.stop(), 0);
  }
  assert.equal(await Deno.readTextFile(`${policyDir}/e2e-persist.yaml`), yaml);
  assert.deepEqual([...Deno.readDirSync(policyDir)].map((e) => e.name), ["e2e-persist.yaml"]);
  {
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);
    assert.deepEqual(names(await api.get("/policies")), ["e2e-persist:enabled"]);
    assert.equal((await api.get("/policies/e2e-persist")).text, yaml);
    const events = new SeqCollector(agent.exportPath, prefix);
    const gen = startGenerator(prefix, 0, { count: 100 });
    await events.waitFor((e) => e.message === "persisted", 100);
    await gen.stop();
  }
  await Deno.remove(policyDir, { recursive: true });
});

Deno.test(
  requires("SIGHUP re-reads the policy directory: changed, new and removed files", "root"),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-hup-" });
    const prefix = seqPrefix();
    await Deno.writeTextFile(`${policyDir}/one.yaml`, seqPolicy("e2e-one", prefix, "one v1"));
    await Deno.writeTextFile(`${policyDir}/two.yaml`, seqPolicy("e2e-two", prefix, "two v1"));
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);
    const events = new SeqCollector(agent.exportPath, prefix);
    const gen = startGenerator(prefix, 500);
    await events.waitFor((e) => e.message === "one v1", 20);

    const one2 = seqPolicy("e2e-one", prefix, "one v2");
    await Deno.writeTextFile(`${policyDir}/one.yaml`, one2);
    await Deno.writeTextFile(`${policyDir}/three.yaml`, seqPolicy("e2e-three", prefix, "three"));
    await Deno.remove(`${policyDir}/two.yaml`);
    Deno.kill(agent.pid, "SIGHUP");
    await until("the reload", async () => {
      return names(await api.get("/policies")).join() === "e2e-one:enabled,e2e-three:enabled";
    });
    assert.equal((await api.get("/policies/e2e-one")).text, one2);
    await events.waitFor((e) => e.message === "one v2", 20);
    await events.waitFor((e) => e.message === "three", 20);
    await sleep(300); // events already in the ring when two went may still arrive
    const twoCount = events.where((e) => e.policy === "e2e-two").length;
    const oneCount = events.where((e) => e.message === "one v2").length;
    await events.waitFor((e) => e.message === "one v2", oneCount + 50);
    assert.equal(events.where((e) => e.policy === "e2e-two").length, twoCount, "two is gone");
    await gen.stop();
    assert.ok(agent.logs().some((l) => l.includes('"msg":"SIGHUP: reloading policies"')));
    assert.ok(agent.logs().some((l) => l.includes('"msg":"policies reloaded","policies":2')));
    await Deno.remove(policyDir, { recursive: true });
  },
);

Deno.test(
  requires(
    "an API replacement of a policy from another file name sticks across SIGHUP, restart",
    "root",
  ),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-file-" });
    const prefix = seqPrefix();
    // As the shipped policies are: file_deletion.yaml holds metadata.name file-deletion. Here
    // the file sorts after <name>.yaml, so the old version would be read last.
    const v1 = seqPolicy("e2e-site", prefix, "site v1");
    const v2 = seqPolicy("e2e-site", prefix, "site v2");
    await Deno.writeTextFile(`${policyDir}/zz_site.yaml`, v1);
    {
      await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
      using api = await Api.of(agent);
      const r = await api.postPolicy(v2);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.replaced, true);
      // One file per policy: the policy's own file now holds the new version.
      assert.deepEqual([...Deno.readDirSync(policyDir)].map((e) => e.name), ["zz_site.yaml"]);
      assert.equal(await Deno.readTextFile(`${policyDir}/zz_site.yaml`), v2);
      assert.equal(r.json.policy.file, `${policyDir}/zz_site.yaml`);

      Deno.kill(agent.pid, "SIGHUP");
      await until("the reload", () => {
        return Promise.resolve(agent.logs().some((l) => l.includes('"msg":"policies reloaded"')));
      });
      assert.equal((await api.get("/policies/e2e-site")).text, v2, "SIGHUP keeps the new version");
      assert.equal(await agent.stop(), 0);
    }
    {
      await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
      using api = await Api.of(agent);
      assert.equal((await api.get("/policies/e2e-site")).text, v2, "a restart keeps it too");
      const r = await api.request("DELETE", "/policies/e2e-site");
      assert.equal(r.status, 200, r.text);
      assert.deepEqual([...Deno.readDirSync(policyDir)], []);
      assert.equal(await agent.stop(), 0);
    }
    {
      await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
      using api = await Api.of(agent);
      assert.deepEqual(
        (await api.get("/policies")).json,
        { policies: [] },
        "deleted stays deleted",
      );
    }
    await Deno.remove(policyDir, { recursive: true });
  },
);
