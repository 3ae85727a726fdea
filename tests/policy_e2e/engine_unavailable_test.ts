/**
 * Real kernel: the example policies on whatever kernel this is. The agent becomes ready and tracks
 * processes either way; where the kernel has what the policy engine needs (bpf_loop, 5.17+) the
 * policies are enabled, elsewhere (Debian's 5.10, Amazon Linux 2, 5.15 stemcells) the engine is
 * never loaded and each policy is in the `error` state with the reason naming the missing helper
 * and the release that brought it. Needs root only: it runs on every lab kernel.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { kernelFeatures, run, startPolicyAgent } from "./_helpers.ts";

const EXAMPLES = ["connect_port.yaml", "file_deletion.yaml", "privilege_change.yaml"];
const POLICIES = new URL("../../policies/", import.meta.url).pathname;

Deno.test({
  ...requires("policy e2e: the agent runs whether or not the policy engine can load", "root"),
  async fn() {
    await using pa = await startPolicyAgent(async () => {
      const files: Record<string, string> = {};
      for (const name of EXAMPLES) files[name] = await Deno.readTextFile(`${POLICIES}${name}`);
      return files;
    });
    const features = await kernelFeatures(pa);
    const loop = features.bpf_loop;
    assert.ok(loop, "the agent's probe reports bpf_loop");
    const policies = await pa.policies();
    assert.equal(policies.length, EXAMPLES.length, JSON.stringify(policies));
    for (const p of policies) {
      if (loop.supported === true) {
        assert.equal(p.state, "enabled", `${p.name}: ${p.reason}`);
      } else {
        assert.equal(p.state, "error", p.name);
        assert.match(
          p.reason ?? "",
          /vigil's policy engine needs bpf_loop \(Linux 5\.17\+\), which this kernel refuses: /,
          p.name,
        );
      }
    }
    // Process tracking is unaffected: a fresh exec is exported.
    const ran = await run("/usr/bin/true", []);
    const [exec] = await pa.agent.waitFor((e) => e.process_exec?.process?.pid === ran.pid);
    assert.equal(exec?.process_exec.process.binary, "/usr/bin/true");
  },
});
