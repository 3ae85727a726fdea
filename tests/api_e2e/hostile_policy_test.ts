/**
 * Issue 14 items 1, 2, 3 and 9 against the REAL agent: hostile policy files never stop start,
 * reload or the API (each gets a precise, bounded error); /healthz answers and events flow while
 * hostile texts are parsed; POST and reload never undo each other's answer; a policy that cannot
 * be saved is not left running; error bodies and the error-state list are bounded.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { aliasBomb, deepTags, hostileTexts, manyKeys, manyLongErrors } from "../policy/_hostile.ts";
import {
  Api,
  note,
  SeqCollector,
  seqPolicy,
  seqPrefix,
  sleep,
  startGenerator,
  unrunnablePolicy,
} from "./_e2e.ts";
import { requires } from "../_helpers/requires.ts";

/** No answer about a policy text is bigger than this (the request may be 1 MiB). */
const MAX_ERROR_BODY = 32 * 1024;

function names(answer: { json: { policies: { name: string; state: string }[] } }): string[] {
  return answer.json.policies.map((p) => `${p.name}:${p.state}`);
}

Deno.test(
  requires(
    "hostile files never stop start, reload or the API; every answer precise, bounded",
    "root",
  ),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-hostile-" });
    const prefix = seqPrefix();
    await Deno.writeTextFile(`${policyDir}/a.yaml`, seqPolicy("hostile-a", prefix, "hostile A"));
    for (const [name, text] of Object.entries(hostileTexts())) {
      await Deno.writeTextFile(`${policyDir}/${name}.yaml`, text);
    }
    await Deno.writeTextFile(`${policyDir}/huge.yaml`, "#".repeat(3 * 1024 * 1024));
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);

    // Start: the good policy runs; each bad file is logged with file:line:column.
    let r = await api.get("/policies");
    assert.deepEqual(names(r), ["hostile-a:enabled"]);
    const rejected = agent.logs().filter((l) => l.includes('"msg":"policy rejected"'))
      .map((l) => JSON.parse(l).error as string);
    const expect: Record<string, RegExp> = {
      "deep.yaml": /deep\.yaml:10:132: YAML nested more than 64 levels deep/,
      "deep-flow.yaml": /deep-flow\.yaml:10:\d+: YAML nested more than 64 levels deep/,
      "alias-bomb.yaml": /alias-bomb\.yaml:\d+:5: the document expands to more than/,
      "many-keys.yaml": /many-keys\.yaml:\d+:3: more than 20000 YAML nodes/,
      "huge-name.yaml": /huge-name\.yaml:4:9: metadata\.name: /,
      "long-errors.yaml": /long-errors\.yaml:\d+:3: /,
      "huge.yaml": /huge\.yaml:1:1: the file is over 1048576 bytes/,
    };
    for (const [file, pattern] of Object.entries(expect)) {
      const line = rejected.find((e) => e.includes(`/${file}`));
      assert.ok(line !== undefined, `${file} logged: ${rejected.join("\n").slice(0, 3000)}`);
      assert.match(line, pattern);
      assert.ok(line.length < 1_000, `${file}: a ${line.length}-char log line`);
    }
    // long-errors.yaml has 999 errors: 100 are logged, then one line says how many more.
    assert.equal(rejected.filter((e) => e.includes("/long-errors.yaml")).length, 101);

    // Over the API: 400 with the precise error, the body bounded.
    for (const [name, text] of Object.entries(hostileTexts())) {
      r = await api.postPolicy(text);
      assert.equal(r.status, 400, `${name}: ${r.text.slice(0, 500)}`);
      assert.match(r.json.error, /^policy rejected: .*\(line \d+, column \d+\)/, name);
      assert.ok(r.text.length < MAX_ERROR_BODY, `${name}: ${r.text.length}-byte answer`);
      assert.ok(r.json.errors.length <= 20, name);
      note(`POST ${name} (${text.length} bytes): 400 in a ${r.text.length}-byte answer`);
    }
    r = await api.postPolicy(manyLongErrors(999, 1000));
    assert.equal(r.json.errors.length, 20);
    assert.equal(r.json.more, 81, "101 bounded errors: 20 listed, 81 more");
    assert.match(r.json.error, /\(and 100 more\)$/);

    // A reload: the same files fail the same way, the good policy keeps running, a new good
    // file next to them is loaded.
    await Deno.writeTextFile(`${policyDir}/b.yaml`, seqPolicy("hostile-b", prefix, "hostile B"));
    r = await api.request("POST", "/policies/reload");
    assert.equal(r.status, 400, r.text.slice(0, 500));
    assert.match(r.json.error, /^reload: 7 policy files failed/);
    assert.ok(r.text.length < MAX_ERROR_BODY, `reload: ${r.text.length}-byte answer`);
    assert.deepEqual(names(r), ["hostile-a:enabled", "hostile-b:enabled"]);
    assert.equal(r.json.errors.length, 20);
    assert.ok(r.json.more > 0);

    // SIGHUP does the same and the agent keeps running.
    Deno.kill(agent.pid, "SIGHUP");
    for (let i = 0; i < 100; i++) {
      if (agent.logs().some((l) => l.includes('"msg":"policies reloaded"'))) break;
      await sleep(50);
    }
    assert.ok(agent.logs().some((l) => l.includes('"msg":"policies reloaded"')));
    assert.equal((await api.get("/healthz")).status, 200);
    await Deno.remove(policyDir, { recursive: true });
  },
);

Deno.test(
  requires("/healthz answers and events keep flowing while hostile texts are parsed", "root"),
  async () => {
    await using agent = await startAgentProcess();
    using api = await Api.of(agent);
    const prefix = seqPrefix();
    let r = await api.postPolicy(seqPolicy("flow", prefix, "flow"));
    assert.equal(r.status, 200, r.text);
    const events = new SeqCollector(agent.exportPath, prefix);
    const gen = startGenerator(prefix, 500);
    await events.waitFor(() => true, 50);

    let stop = false;
    // /healthz every 25 ms: the longest answer.
    let worstHealth = 0;
    let healthChecks = 0;
    const health = (async () => {
      while (!stop) {
        const t0 = performance.now();
        const h = await api.get("/healthz");
        assert.equal(h.status, 200);
        worstHealth = Math.max(worstHealth, performance.now() - t0);
        healthChecks++;
        await sleep(25);
      }
    })();
    // The export every 50 ms: the longest stretch without a new event.
    let worstStall = 0;
    const flow = (async () => {
      let count = events.poll().length;
      let since = performance.now();
      while (!stop) {
        await sleep(50);
        const now = events.poll().length;
        if (now > count) {
          worstStall = Math.max(worstStall, performance.now() - since);
          count = now;
          since = performance.now();
        }
      }
    })();
    // Hostile texts back to back for a while (the alias bomb alone took 8 s on the loop).
    const hostile = [aliasBomb(), manyKeys(), deepTags(), manyLongErrors()];
    const until = Date.now() + 4_000;
    let posted = 0;
    while (Date.now() < until) {
      const text = hostile[posted++ % hostile.length]!;
      r = await api.postPolicy(text);
      assert.equal(r.status, 400, r.text.slice(0, 300));
    }
    stop = true;
    await Promise.all([health, flow]);
    const { last } = await gen.stop();
    await events.waitFor((e) => e.seq === last, 1);
    note(
      `${posted} hostile POSTs in 4 s: /healthz worst ${worstHealth.toFixed(0)} ms over ` +
        `${healthChecks} checks; longest export stall ${worstStall.toFixed(0)} ms`,
    );
    assert.ok(healthChecks > 20, `${healthChecks} health checks`);
    assert.ok(worstHealth < 1_000, `/healthz took ${worstHealth.toFixed(0)} ms`);
    assert.ok(worstStall < 1_500, `no event exported for ${worstStall.toFixed(0)} ms`);
  },
);

Deno.test(
  requires(
    "POST and reload are ordered: a 200 stays true; an unsaved policy is not running",
    "root",
  ),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-race-" });
    const prefix = seqPrefix();
    // A few files so a reload takes a while: the window the race needed.
    for (const n of ["a", "b", "c", "d"]) {
      await Deno.writeTextFile(
        `${policyDir}/${n}.yaml`,
        seqPolicy(`race-${n}`, prefix, `race ${n}`),
      );
    }
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    using api = await Api.of(agent);

    for (let round = 0; round < 6; round++) {
      const name = `race-post-${round}`;
      // Reload first, POST while it runs (and the other way round on odd rounds).
      const reload = () => api.request("POST", "/policies/reload");
      const post = () => api.postPolicy(seqPolicy(name, prefix, name));
      const [p] = round % 2 === 0
        ? await Promise.all([post(), reload()]).then(([p, q]) => [p, q])
        : await Promise.all([reload(), post()]).then(([q, p]) => [p, q]);
      assert.equal(p!.status, 200, p!.text);
      // The 200 holds: the policy runs and its file is there, after this and another reload.
      await api.request("POST", "/policies/reload");
      const r = await api.get(`/policies/${name}`);
      assert.equal(r.status, 200, `round ${round}: ${name} gone after a 200`);
      assert.ok((await Deno.stat(`${policyDir}/${name}.yaml`)).isFile);
    }
    const all = names(await api.get("/policies"));
    for (let round = 0; round < 6; round++) assert.ok(all.includes(`race-post-${round}:enabled`));

    // A policy that cannot be saved (its file name is taken by a directory) is not left
    // running: 500 saying why, nothing changed.
    await Deno.mkdir(`${policyDir}/unsaved.yaml`);
    const before = names(await api.get("/policies"));
    const r = await api.postPolicy(seqPolicy("unsaved", prefix, "unsaved"));
    assert.equal(r.status, 500, r.text);
    assert.match(
      r.json.error,
      /^policy "unsaved" not applied: cannot save the policy to .*\/unsaved\.yaml: .*; the running policies are unchanged$/,
    );
    assert.deepEqual(names(await api.get("/policies")), before);
    assert.equal((await api.get("/policies/unsaved")).status, 404);
    const temps = [...Deno.readDirSync(policyDir)].filter((e) => e.name.includes(".tmp-"));
    assert.deepEqual(temps, [], "no temporary file left behind");
    await Deno.remove(policyDir, { recursive: true });
  },
);

Deno.test(
  requires("the list of policies that cannot run is bounded", "root"),
  async () => {
    await using agent = await startAgentProcess();
    using api = await Api.of(agent);
    for (let i = 0; i < 70; i++) {
      const r = await api.postPolicy(unrunnablePolicy(`cannot-run-${i}`));
      assert.equal(r.status, 400, r.text);
    }
    const r = await api.get("/policies");
    const inError = r.json.policies.filter((p: { state: string }) => p.state === "error");
    assert.equal(inError.length, 64);
    assert.ok(
      agent.logs().some((l) => l.includes('"msg":"policy in error not kept"')),
      "the ones not kept are logged",
    );
  },
);
