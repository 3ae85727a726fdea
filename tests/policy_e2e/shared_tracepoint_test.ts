/**
 * Regression tests: hooks of different policies (or two versions of one policy) on the same
 * tracepoint. The kernel refuses to attach one BPF program twice to one tracepoint (EEXIST): the
 * hooks there share one attachment of the one loaded tracepoint program (its attach slot lists
 * them), so a second policy on a syscall, or the new version of a replaced one, loads nothing.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import {
  expectOneEvent,
  getprioritySpec,
  NR,
  policy,
  runPerl,
  settle,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";

const selector = (which: number) =>
  `    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${which}"]
`;

Deno.test({
  ...requires(
    "policy e2e: policies sharing a tracepoint all load, post, and can be replaced",
    ...POLICY_ENGINE_NEEDS,
  ),
  async fn(t) {
    await using pa = await startPolicyAgent({
      "a.yaml": policy("shared-a", getprioritySpec(selector(7101))),
      "b.yaml": policy("shared-b", getprioritySpec(selector(7102))),
      "c.yaml": policy("shared-c", getprioritySpec(selector(7103))),
    });

    await t.step("three policies on sys_enter_getpriority are enabled", async () => {
      const all = await pa.policies();
      assert.deepEqual(
        all.map((p) => [p.name, p.state, p.reason ?? ""]),
        [["shared-a", "enabled", ""], ["shared-b", "enabled", ""], ["shared-c", "enabled", ""]],
      );
    });

    await t.step("each posts its own call only", async () => {
      for (
        const [name, which] of [["shared-a", 7101], ["shared-b", 7102], ["shared-c", 7103]] as const
      ) {
        await expectOneEvent(pa, name, {
          hit: () => runPerl(syscallCode(NR.getpriority, which, 1)),
        }, (b) => assert.equal(b.args[0].int_arg, which));
      }
    });

    await t.step("a changed file replaces the running version (reload)", async () => {
      await Deno.writeTextFile(
        `${pa.policyDir}/a.yaml`,
        policy("shared-a", getprioritySpec(selector(7104))),
      );
      const client = Deno.createHttpClient({
        proxy: { transport: "unix", path: pa.agent.api.slice("unix:".length) },
      });
      try {
        const token = (await Deno.readTextFile(pa.agent.tokenFile)).trim();
        const res = await fetch("http://vigil/policies/reload", {
          method: "POST",
          client,
          headers: { authorization: `Bearer ${token}` },
        });
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
      } finally {
        client.close();
      }
      const status = await pa.status("shared-a");
      assert.equal(status.state, "enabled");
      const before = pa.eventsOf("shared-a").length;
      const old = await runPerl(syscallCode(NR.getpriority, 7101, 1));
      const now = await runPerl(syscallCode(NR.getpriority, 7104, 1));
      await pa.waitForPolicyEvents("shared-a", (b) => b.process?.pid === now.pid);
      await settle();
      const events = pa.eventsOf("shared-a").slice(before);
      assert.deepEqual(events.map((e) => e.process_kprobe.process.pid), [now.pid]);
      assert.ok(old.pid !== now.pid);
    });

    await t.step("one program ran them all: at most one load for the shared point", () => {
      // Kernels with fentry plan getpriority on __x64_sys_getpriority: one program bound there
      // at load. On tracepoints, the engine's one tracepoint program: nothing loaded.
      const loads = pa.agent.logs().filter((l) => l.includes('"msg":"policy engine: loaded'));
      assert.ok(loads.length <= 1, loads.join("\n"));
      for (const l of loads) assert.match(l, /vigil_fentry\|__x64_sys_getpriority/);
    });
  },
});
