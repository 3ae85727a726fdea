/**
 * Real-kernel lifecycle tests: clean stop on SIGTERM/SIGINT, and nothing left attached after a
 * SIGKILL (links are not pinned, so the kernel drops them with the process's fds).
 */
import assert from "node:assert/strict";
import { marker, runProcess, startAgentProcess } from "../_helpers/agent_process.ts";
import { scaled } from "../_helpers/time_scale.ts";
import { requires } from "../_helpers/requires.ts";
import { ownedBy, type OwnedIds } from "../_helpers/bpf_ids.ts";

const POLICY_DIR = new URL("../../policies", import.meta.url).pathname;

async function bpftoolIds(kind: "prog" | "link"): Promise<Set<number>> {
  const out = await new Deno.Command("bpftool", { args: ["-j", kind, "show"] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new Set(
    (JSON.parse(new TextDecoder().decode(out.stdout)) as { id: number }[]).map((o) => o.id),
  );
}

/** Which of `ids` the kernel still has. */
async function stillThere(ids: OwnedIds): Promise<number[]> {
  const progs = await bpftoolIds("prog");
  const links = await bpftoolIds("link");
  return [...ids.progs.filter((id) => progs.has(id)), ...ids.links.filter((id) => links.has(id))];
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const until = Date.now() + scaled(timeoutMs);
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    ...requires(
      `vigil run stops on ${signal}: exit 0, events flushed, everything detached`,
      "root",
    ),
    async fn() {
      // With the example policies: the policy engine is released too (where this kernel runs it).
      await using agent = await startAgentProcess({ args: ["--policy-dir", POLICY_DIR] });
      const ids = ownedBy(agent.pid);
      assert.ok(ids.progs.length >= 3, `agent owns programs: ${JSON.stringify(ids)}`);
      assert.ok(ids.links.length >= 3, `agent owns links: ${JSON.stringify(ids)}`);
      const tag = marker();
      await runProcess("/bin/true", [tag]);
      // Stop at once: the final drain and flush must still export the event.
      assert.equal(await agent.stop(signal), 0);
      const exported = agent.events().filter((e) => e.process_exec?.process?.arguments === tag);
      assert.equal(exported.length, 1);
      assert.ok(agent.logs().some((l) => l.includes('"msg":"stopped"')), agent.logs().join("\n"));
      // Every handle released in order: no cleanup step failed (a hook detached after its
      // engine's maps were closed logged EBADF here).
      const failed = agent.logs().filter((l) => l.includes('"msg":"cleanup failed"'));
      assert.deepEqual(failed, []);
      // The kernel frees programs asynchronously (RCU) after the last reference goes.
      assert.ok(
        await eventually(async () => (await stillThere(ids)).length === 0),
        "programs or links leaked",
      );
    },
  });
}

Deno.test({
  ...requires("after SIGKILL nothing of the agent stays attached", "root"),
  async fn() {
    await using agent = await startAgentProcess();
    const ids = ownedBy(agent.pid);
    assert.ok(ids.progs.length >= 3);
    await agent.stop("SIGKILL");
    assert.ok(
      await eventually(async () => (await stillThere(ids)).length === 0),
      "programs or links leaked",
    );
  },
});
