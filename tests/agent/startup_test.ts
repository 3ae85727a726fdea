/**
 * Start-up with a policy directory: the policy engine's object loads beside process.bpf.o (two
 * verifier runs at once), its policies install with it, and libbpf's messages, off meanwhile,
 * are back on afterwards.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../_helpers/agent_process.ts";
import { requires } from "../_helpers/requires.ts";
import { ownedBy } from "../_helpers/bpf_ids.ts";

const POLICY_DIR = new URL("../../policies", import.meta.url).pathname;

interface LogLine {
  readonly msg: string;
  readonly text?: string;
  readonly policies?: string[];
}

Deno.test({
  ...requires(
    "vigil run loads the policy engine beside process.bpf.o, then installs the policies with it",
    "root",
    // The engine's object needs it; without it nothing is loaded beside (see early_engine.ts).
    "bpf_loop",
  ),
  async fn() {
    await using agent = await startAgentProcess({
      args: ["--policy-dir", POLICY_DIR, "--log-level", "debug"],
    });
    const logs = agent.logs().map((l) => JSON.parse(l) as LogLine);
    const beside = logs.findIndex((l) => l.msg === "policy engine loaded beside start-up");
    assert.ok(beside >= 0, "the engine loaded beside start-up");
    const ready = logs.find((l) => l.msg === "ready");
    assert.ok(ready?.policies !== undefined && ready.policies.length === 5, JSON.stringify(ready));
    // The engine was taken over, never loaded twice, and no policy lost it.
    assert.ok(!logs.some((l) => l.msg === "policy engine load failed"));
    assert.ok(!logs.some((l) => l.msg.includes("load beside start-up failed")));
    const rejected = logs.filter((l) => l.msg === "policy rejected");
    assert.ok(
      !rejected.some((l) => JSON.stringify(l).includes("policy engine")),
      JSON.stringify(rejected),
    );
    // The kernel probe runs after it, with libbpf's messages on again.
    assert.ok(
      logs.slice(beside + 1).some((l) => l.msg === "libbpf" && /loading object/.test(l.text ?? "")),
      "libbpf's messages after the engine's load",
    );
  },
});

Deno.test({
  ...requires(
    "a policy directory of invalid files only: the engine loaded beside start-up is released",
    "root",
    "bpf_loop",
  ),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(
        `${dir}/bad.yaml`,
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bad\n" +
          "spec:\n  kprobes: 3\n",
      );
      let tracking: number;
      {
        await using agent = await startAgentProcess();
        tracking = new Set(ownedBy(agent.pid).progs).size;
      }
      await using agent = await startAgentProcess({
        args: ["--policy-dir", dir, "--log-level", "debug"],
      });
      const logs = agent.logs();
      assert.ok(logs.some((l) => l.includes('"msg":"policy engine loaded beside start-up"')));
      assert.ok(logs.some((l) => l.includes('"msg":"policy rejected"')));
      // Only process.bpf.o's programs are left: the same count as an agent without policies.
      assert.equal(new Set(ownedBy(agent.pid).progs).size, tracking);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
