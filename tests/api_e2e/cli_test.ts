/**
 * The CLI client verbs, run as a user runs them (`main.ts <verb> --api ... --api-token-file ...`),
 * against the REAL agent: status, policy add/list/delete/reload, events --compact, top --once.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { Api, seqPolicy, seqPrefix, startGenerator } from "./_e2e.ts";
import { requires } from "../_helpers/requires.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test(
  requires("vigil status, policy, events --compact, top --once against the real agent", "root"),
  async () => {
    const policyDir = await Deno.makeTempDir({ prefix: "vigil-e2e-cli-" });
    const work = await Deno.makeTempDir({ prefix: "vigil-e2e-cli-files-" });
    const prefix = seqPrefix();
    await using agent = await startAgentProcess({ args: ["--policy-dir", policyDir] });
    const api = ["--api", agent.api, "--api-token-file", agent.tokenFile];

    let r = await vigil(["status", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vigil at unix:.*: ready\n/);

    await Deno.writeTextFile(`${work}/cli.yaml`, seqPolicy("e2e-cli", prefix, "cli v1"));
    r = await vigil(["policy", "add", `${work}/cli.yaml`, ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^policy e2e-cli added: enabled\n/);
    await Deno.writeTextFile(`${work}/cli.yaml`, seqPolicy("e2e-cli", prefix, "cli v2"));
    r = await vigil(["policy", "add", `${work}/cli.yaml`, ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^policy e2e-cli replaced: enabled\n/);

    await Deno.writeTextFile(`${work}/broken.yaml`, "kind: [\n");
    r = await vigil(["policy", "add", `${work}/broken.yaml`, ...api]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^${work}/broken.yaml:\\d+:\\d+: YAML syntax error`));

    await Deno.writeTextFile(`${work}/wrong-token`, "bm90LXRoZS10b2tlbg\n");
    r = await vigil([
      "policy",
      "add",
      `${work}/cli.yaml`,
      "--api",
      agent.api,
      "--api-token-file",
      `${work}/wrong-token`,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused the token .*\(401\)/);

    r = await vigil(["policy", "list", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^NAME +STATE +MODE +HOOKS .*\ne2e-cli +enabled +\w+ +1\/1 syscall_tracepoint/,
    );

    r = await vigil(["policy", "reload", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /reloaded: 1 polic/);

    // events --compact: one readable line per event of the policy.
    const events = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "events", "--compact", "--policy", "e2e-cli", ...api],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = events.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const gen = startGenerator(prefix, 100);
    let text = "";
    while (text.split("\n").length < 6) {
      const { value, done } = await reader.read();
      assert.ok(!done, "events keeps streaming");
      text += value;
    }
    await gen.stop();
    events.kill("SIGTERM");
    await reader.cancel();
    await events.status;
    await events.stderr.cancel();
    for (const line of text.split("\n").slice(0, 5)) {
      assert.match(line, new RegExp(`^🔎 policy  e2e-cli .* __x64_sys_unlinkat ${prefix}\\d+$`));
    }

    r = await vigil(["top", "--once", "--interval", "0.5", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Ovh\(%\) +Id +Cnt +Time\(ns\) +Name +Policy\n/);
    assert.match(r.stdout, /\bvigil_exec\b/);
    assert.match(r.stdout, /\bvigil_policy\b/);

    r = await vigil(["policy", "delete", "e2e-cli", ...api]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "policy e2e-cli deleted\n");
    r = await vigil(["policy", "delete", "e2e-cli", ...api]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no policy named 'e2e-cli' \(HTTP 404\)/);
    using client = await Api.of(agent);
    assert.deepEqual((await client.get("/policies")).json, { policies: [] });
    await Deno.remove(policyDir, { recursive: true });
    await Deno.remove(work, { recursive: true });
  },
);
