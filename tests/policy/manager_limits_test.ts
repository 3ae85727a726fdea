/**
 * The policy manager's bounds and its save-before-commit rule (issue 14 items 3 and 9), with an
 * in-memory engine that counts attached links (the BPF side is covered by the API end-to-end
 * tests; these cover the manager's bookkeeping, which does not need a kernel).
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log/logger.ts";
import type { PolicyEngine } from "../../src/policy/engine.ts";
import { PolicyManager } from "../../src/policy/manager.ts";
import { POLICY_SET_LIMITS } from "../../src/policy/spec/input_limits.ts";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { facts } from "./plan_fixtures.ts";

/** Counts links; every other engine call is a no-op with plausible results. */
class CountingEngine {
  attached = 0;
  #nextHook = 1;
  #nextSet = 1;
  ensureTracefs(): void {}
  allocHook(): number {
    return this.#nextHook++;
  }
  allocSetId(): number {
    return this.#nextSet++;
  }
  writeHook(): void {}
  releaseHook(): void {}
  addSets(): void {}
  removeSets(): void {}
  resetCounters(): void {}
  attach(): { close(): void } {
    this.attached++;
    return { close: () => void this.attached-- };
  }
  counters() {
    return { seen: 0, posted: 0, filtered: 0, rateLimited: 0, signals: 0 };
  }
}

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

function manager(policyDir: string | null): { m: PolicyManager; engine: CountingEngine } {
  const engine = new CountingEngine();
  const m = new PolicyManager({
    engine: () => engine as unknown as PolicyEngine,
    facts: () => facts(),
    logger: createLogger({ level: "error", write: () => {} }),
    policyDir,
    // On this thread: the worker is covered by parse_off_thread_test.ts.
    parser: { parse: (t, f) => Promise.resolve(parsePolicy(t, f)), close: () => {} },
  });
  return { m, engine };
}

Deno.test("the agent holds at most 256 policies; replacing one still works at the bound", async () => {
  const { m, engine } = manager(null);
  try {
    for (let i = 0; i < POLICY_SET_LIMITS.maxPolicies; i++) {
      const r = await m.apply(policy(`p-${i}`), "api");
      assert.ok(r.ok, JSON.stringify(r));
    }
    const over = await m.apply(policy("one-too-many"), "api");
    assert.equal(over.ok, false);
    assert.match(!over.ok ? over.errors[0]!.message : "", /at most 256 policies/);
    assert.equal(m.list().length, 256);
    const replaced = await m.apply(policy("p-0").replace("sys_unlinkat", "sys_unlink"), "api");
    assert.ok(replaced.ok && replaced.replaced);
    assert.equal(engine.attached, 256, "one link per policy, the replaced one swapped");
  } finally {
    m.close();
  }
});

Deno.test("a policy that cannot be written is not attached: 500, nothing changed", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vigil-manager-" });
  const { m, engine } = manager(dir);
  try {
    // The directory is gone: writing the temporary file fails before anything is attached.
    Deno.removeSync(dir, { recursive: true });
    const r = await m.apply(policy("unwritable"), "api");
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.status, 500);
    assert.match(
      !r.ok ? r.errors[0]!.message : "",
      /^policy "unwritable" not applied: cannot save the policy to .*\/unwritable\.yaml: No such file or directory \(os error 2\); the running policies are unchanged$/,
    );
    assert.equal(engine.attached, 0);
    assert.deepEqual(m.list(), []);
  } finally {
    m.close();
  }
});

Deno.test("a saved policy's file holds exactly the text that runs", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vigil-manager-" });
  const { m } = manager(dir);
  try {
    const text = policy("saved");
    const r = await m.apply(text, "api");
    assert.ok(r.ok);
    assert.equal(Deno.readTextFileSync(`${dir}/saved.yaml`), text);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["saved.yaml"]);
    // A delete removes the file first, then the policy.
    assert.equal(await m.delete("saved"), true);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.deepEqual(m.list(), []);
  } finally {
    m.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
