/**
 * The process of a policy event is the process as it runs when the call is made: for a program
 * exec'd after the agent started, its exec (binary, arguments, exec_id), not the fork that
 * preceded the exec.
 *
 * Regression: the policy program keyed events with `task_key()`, which looks the pid up in `exec_keys`;
 * the policy object had its own, always empty, copy of that map (only `events`, `exec_binaries`
 * and `counters` were shared with process.bpf.o), so every event carried the fork-time key and the
 * user-space cache resolved it to the pre-exec clone: `binary` was the parent's.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import {
  getprioritySpec,
  NR,
  PERL,
  policy,
  runPerl,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";

Deno.test({
  ...requires(
    "policy e2e: a policy event names the exec'd binary and its exec_id",
    ...POLICY_ENGINE_NEEDS,
  ),
  async fn() {
    await using pa = await startPolicyAgent({
      "p.yaml": policy(
        "event-process",
        getprioritySpec(`    - matchArgs:
      - index: 0
        operator: Equal
        values: ["7201"]
`),
      ),
    });
    const ran = await runPerl(syscallCode(NR.getpriority, 7201, 1));
    assert.equal(ran.code, 0, ran.stderr);
    const [event] = await pa.waitForPolicyEvents(
      "event-process",
      (b) => b.process?.pid === ran.pid,
    );
    const [exec] = await pa.agent.waitFor((e) => e.process_exec?.process?.pid === ran.pid);
    const process = event!.process_kprobe.process;
    assert.equal(process.binary, PERL);
    assert.equal(process.exec_id, exec!.process_exec.process.exec_id);
  },
});
