/**
 * A policy engine that cannot load never stops the manager: each policy that needs it is kept in
 * the `error` state with the load's reason, the failure is logged, and the manager keeps taking
 * changes (the kernel side of this is tests/policy_e2e/engine_unavailable_test.ts).
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log/logger.ts";
import { PolicyManager } from "../../src/policy/manager.ts";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { facts } from "./plan_fixtures.ts";

const REASON = "the policy engine did not load: load policy_tracepoint.bpf.o: EINVAL (22)";

function policy(name: string): string {
  return `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
  kprobes:
    - call: sys_unlinkat
      syscall: true
`;
}

Deno.test("an engine that cannot load puts the policies in error with its reason", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vigil-manager-engine-" });
  const logged: string[] = [];
  let loads = 0;
  const m = new PolicyManager({
    engine: () => {
      loads++;
      throw new Error(REASON);
    },
    facts: () => facts(),
    logger: createLogger({ level: "info", write: (line) => void logged.push(line) }),
    policyDir: dir,
    parser: { parse: (t, f) => Promise.resolve(parsePolicy(t, f)), close: () => {} },
  });
  try {
    Deno.writeTextFileSync(`${dir}/a.yaml`, policy("a"));
    Deno.writeTextFileSync(`${dir}/b.yaml`, policy("b"));
    const results = await m.loadDir(dir);
    assert.deepEqual(results.map((r) => r.result.ok), [false, false]);
    const listed = m.list().map((p) => [p.name, p.state, p.reason]);
    assert.deepEqual(listed, [
      ["a", "error", `cannot load policy a: ${REASON}`],
      ["b", "error", `cannot load policy b: ${REASON}`],
    ]);
    assert.ok(loads >= 2, "each policy asked for the engine");
    assert.ok(
      logged.some((l) => l.includes('"msg":"policy load failed"') && l.includes("EINVAL")),
      logged.join("\n"),
    );
    // The manager still takes changes: a delete of a policy in error works.
    assert.equal(await m.delete("a"), true);
    assert.deepEqual(m.list().map((p) => p.name), ["b"]);
  } finally {
    m.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
