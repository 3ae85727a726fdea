/**
 * Real kernel, real processes: syscall hooks forced through kprobes (`--policy-mechanisms kprobe`),
 * the plan of kernels with kprobes but no fentry. Runs for real where the kernel has kprobes (the
 * lab: `deno task lab --kernel 6.1|6.12 -- deno test -A tests/policy_e2e/kprobe_plan_test.ts`);
 * elsewhere it asserts the refusal and says so loudly.
 *
 * - a kretprobe hook with args (`return: true`) posts one event with the entry args (stashed by
 *   its entry half) and the return value, as Tetragon does;
 * - two policies on one function each post their own calls, run by the one kprobe program
 *   loaded for every kprobe point (the attach slot lists both hooks).
 */
import assert from "node:assert/strict";
import {
  bodyOf,
  kernelFeatures,
  NR,
  policy,
  runPerl,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";

/** pids nobody has: getpgid fails with ESRCH. */
const RET_MARKER = 3_999_931;
const A_MARKER = 3_999_933;
const B_MARKER = 3_999_935;

const getpgid = (marker: number, ret: boolean) =>
  `  kprobes:
  - call: sys_getpgid
    syscall: true
${ret ? "    return: true\n" : ""}    args:
    - index: 0
      type: int
      label: pid
${ret ? "    returnArg:\n      index: 0\n      type: int\n" : ""}    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
`;

const FILES = {
  "kret.yaml": policy("kret-getpgid", getpgid(RET_MARKER, true)),
  "a.yaml": policy("kp-a", getpgid(A_MARKER, false)),
  "b.yaml": policy("kp-b", getpgid(B_MARKER, false)),
};

Deno.test(
  requires("policy e2e: syscall hooks forced through kprobes", ...POLICY_ENGINE_NEEDS),
  async (t) => {
    await using pa = await startPolicyAgent(FILES, ["--policy-mechanisms", "kprobe"]);
    const features = await kernelFeatures(pa);
    const kprobe = features.kprobe?.supported === true;
    const why = `no kprobes here (${features.kprobe?.reason}): run it in the lab`;

    await t.step("each policy is planned on kprobes, or refused with the reason", async () => {
      for (const name of ["kret-getpgid", "kp-a", "kp-b"]) {
        const s = await pa.status(name);
        if (!kprobe) {
          assert.equal(s.state, "error", JSON.stringify(s));
          assert.match(s.reason ?? "", /kprobe/);
          continue;
        }
        assert.equal(s.state, "enabled", `${name}: ${s.reason}`);
        assert.ok(
          s.hooks.every((h) => h.mechanism === "kprobe __x64_sys_getpgid" && h.attached),
          JSON.stringify(s.hooks),
        );
      }
    });

    await t.step({
      name: `kretprobe: one event with the entry args and the return value${
        kprobe ? "" : ` [IGNORED: ${why}]`
      }`,
      ignore: !kprobe,
      fn: async () => {
        const r = await runPerl(`${syscallCode(NR.getpgid, RET_MARKER)} print $!+0; exit 0;`);
        assert.equal(r.stdout.trim(), "3", "getpgid of a missing pid fails with ESRCH");
        const [e] = await pa.agent.waitFor(
          (x) => bodyOf(x).policy_name === "kret-getpgid" && bodyOf(x).process?.pid === r.pid,
          { count: 1, timeoutMs: 10_000 },
        );
        const body = bodyOf(e!);
        assert.equal(body.function_name, "__x64_sys_getpgid");
        assert.deepEqual(body.args, [{ int_arg: RET_MARKER, label: "pid" }]);
        assert.deepEqual(body.return, { int_arg: -3 });
      },
    });

    await t.step({
      name: `two policies on one function: each posts its own calls, one program loaded${
        kprobe ? "" : ` [IGNORED: ${why}]`
      }`,
      ignore: !kprobe,
      fn: async () => {
        for (const [name, marker] of [["kp-a", A_MARKER], ["kp-b", B_MARKER]] as const) {
          const r = await runPerl(`${syscallCode(NR.getpgid, marker)} exit 0;`);
          const [e] = await pa.agent.waitFor(
            (x) => bodyOf(x).policy_name === name && bodyOf(x).process?.pid === r.pid,
            { count: 1, timeoutMs: 10_000 },
          );
          assert.deepEqual(bodyOf(e!).args, [{ int_arg: marker, label: "pid" }]);
        }
        const loads = pa.agent.logs().filter((l) =>
          l.includes('"msg":"policy engine: loaded') && l.includes('"program":"vigil_kprobe"')
        );
        assert.equal(loads.length, 1, loads.join("\n"));
      },
    });
  },
);
