/**
 * Real kernel: matchReturnArgs decides on the return value of a `return: true` hook, whatever
 * the mechanism this kernel gives it (fexit or kretprobe with the entry args in the same
 * program; the syscall's exit tracepoint where functions cannot be hooked). One binary makes the
 * same syscall twice: the call that fails with ESRCH posts, the one that succeeds is filtered
 * in the kernel.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import { expectOneEvent, PERL, policy, run, startPolicyAgent, syscallCode } from "./_helpers.ts";

const NR_GETPGID = 121;
/** A pid nobody has: getpgid fails with ESRCH (-3). */
const NO_SUCH_PID = 3_999_923;

const spec = (binary: string, selector: string) =>
  `  kprobes:
  - call: sys_getpgid
    syscall: true
    return: true
    args:
    - index: 0
      type: int
      label: pid
    returnArg:
      index: 0
      type: int
    selectors:
    - matchBinaries:
      - operator: In
        values: ["${binary}"]
${selector}`;

Deno.test({
  ...requires("policy e2e: matchReturnArgs on the return value", ...POLICY_ENGINE_NEEDS),
  async fn(t) {
    const tag = crypto.randomUUID().slice(0, 8);
    const copies: Record<string, string> = {};
    await using pa = await startPolicyAgent(async (w) => {
      for (const name of ["eq", "lt"]) {
        copies[name] = `${w}/perl-${name}-${tag}`;
        await Deno.copyFile(PERL, copies[name]!);
        await Deno.chmod(copies[name]!, 0o755);
      }
      return {
        "ret-eq.yaml": policy(
          "ret-eq",
          spec(
            copies.eq!,
            `      matchReturnArgs:
      - index: 0
        operator: Equal
        values: ["-3"]
`,
          ),
        ),
        "ret-lt.yaml": policy(
          "ret-lt",
          spec(
            copies.lt!,
            `      matchReturnArgs:
      - index: 0
        operator: LT
        values: ["0"]
`,
          ),
        ),
      };
    });
    const all = await pa.policies();
    assert.deepEqual(all.filter((p) => p.state !== "enabled").map((p) => [p.name, p.reason]), []);
    const hooks = (await pa.status("ret-eq")).hooks;
    const mechanism = hooks.map((h) => h.mechanism).join(", ");
    const split = mechanism.includes("syscall_tracepoint");

    for (const [name, op] of [["ret-eq", "Equal -3"], ["ret-lt", "LT 0"]] as const) {
      const binary = copies[name.slice(4)]!;
      await t.step(
        `${name} (${op}) via ${mechanism}: ESRCH posts, success is filtered`,
        async () => {
          await expectOneEvent(pa, name, {
            miss: () => run(binary, ["-e", syscallCode(NR_GETPGID, 0)]),
            hit: () => run(binary, ["-e", syscallCode(NR_GETPGID, NO_SUCH_PID)]),
          }, (b) => {
            // Split at the exit tracepoint, the event is the exit's: the entry args are gone.
            if (split) assert.equal(b.args, undefined, JSON.stringify(b));
            else assert.deepEqual(b.args, [{ int_arg: NO_SUCH_PID, label: "pid" }]);
            assert.equal(b.return?.int_arg, -3, JSON.stringify(b));
          });
        },
      );
    }
  },
});
