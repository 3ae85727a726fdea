/**
 * Real kernel, real processes: policy hooks on kernel functions (fentry/fexit, else
 * kprobe/kretprobe) and BPF LSM hooks, on whatever this kernel allows. The kernel's own feature
 * probe (`GET /status`) says what it allows; each step asserts exactly that: the planned mechanism
 * where the kernel has it, the precise refusal where it has not. On a kernel without fentry and
 * kprobes (the development machine) the function steps are ignored loudly; the lab
 * (`deno task lab --kernel 6.1|6.12 -- deno test -A tests/policy_e2e/functions_test.ts`) runs them.
 *
 * - a hook on a kernel function (security_task_setnice) fires for the matching call, not another;
 * - fexit (or a kretprobe, its entry args stashed) on a syscall sees its arguments and its
 *   return value (-ESRCH) in one event;
 * - hot replace of a syscall hook (fentry here, tracepoints on the development machine): a call
 *   loop running through the reload has an event for every call; afterwards only the new
 *   version posts, and no program was loaded for it (the attach point's program is shared);
 * - Sigkill from a function hook and from an LSM hook kills the caller (SIGKILL);
 * - an LSM hook with Override makes setpriority(2) fail with EPERM, and the event says so;
 * - Override on the kernel function security_task_setnice (fmod_ret) does the same, without LSM;
 * - monitor mode posts the Override without failing the call, flagged `policy_mode: monitor`;
 * - without `bpf` in the LSM list: the Override policy is refused with the reason, the others run.
 */
import assert from "node:assert/strict";
import {
  bodyOf,
  type ExportedEvent,
  kernelFeatures,
  NR,
  PERL,
  perlString,
  policy,
  type PolicyAgent,
  runPerl,
  settle,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";

/** A pid nobody has: getpgid(MARKER) fails with ESRCH. */
const MARKER = 3_999_917;
const KILL_MARKER = 3_999_919;

const setnice = (nice: number) =>
  `  kprobes:
  - call: security_task_setnice
    syscall: false
    args:
    - index: 1
      type: int
      label: nice
    selectors:
    - matchArgs:
      - index: 1
        operator: Equal
        values: ["${nice}"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

const getpgid = (marker: number, actions: string, ret: boolean) =>
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
${actions}`;

const lsmSetnice = (nice: number, actions: string, options = "") =>
  `${options}  lsmhooks:
  - hook: task_setnice
    args:
    - index: 1
      type: int
      label: nice
    selectors:
    - matchArgs:
      - index: 1
        operator: Equal
        values: ["${nice}"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
      matchActions:
${actions}`;

const fmodRetSetnice = (nice: number) =>
  `  kprobes:
  - call: security_task_setnice
    syscall: false
    args:
    - index: 1
      type: int
      label: nice
    selectors:
    - matchArgs:
      - index: 1
        operator: Equal
        values: ["${nice}"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
      matchActions:
      - action: Override
        argError: -1
`;

/** getpgid calls whose pid argument is in [REPLACE_LO, REPLACE_LO + 99999]: ESRCH, harmless. */
const REPLACE_LO = 4_100_000;
const replaceGetpgid = (version: string) =>
  `  kprobes:
  - call: sys_getpgid
    syscall: true
    message: "${version}"
    args:
    - index: 0
      type: int
      label: pid
    selectors:
    - matchArgs:
      - index: 0
        operator: InRange
        values: ["${REPLACE_LO}:${REPLACE_LO + 99_999}"]
`;

const FILES: Record<string, string> = {
  "replace_getpgid.yaml": policy("replace-getpgid", replaceGetpgid("v1")),
  "fn_setnice.yaml": policy("fn-setnice", setnice(13)),
  "fmod_ret_setnice.yaml": policy("fmod-ret-setnice", fmodRetSetnice(9)),
  "fexit_getpgid.yaml": policy("fexit-getpgid", getpgid(MARKER, "", true)),
  "kill_getpgid.yaml": policy(
    "kill-getpgid",
    getpgid(KILL_MARKER, "      matchActions:\n      - action: Sigkill\n", false),
  ),
  "lsm_override.yaml": policy(
    "lsm-override",
    lsmSetnice(11, "      - action: Override\n        argError: -1\n"),
  ),
  "lsm_kill.yaml": policy("lsm-kill", lsmSetnice(12, "      - action: Sigkill\n")),
  "lsm_monitor.yaml": policy(
    "lsm-monitor",
    lsmSetnice(
      10,
      "      - action: Override\n        argError: -1\n",
      "  options:\n  - name: policy-mode\n    value: monitor\n",
    ),
  ),
};

async function waitEvent(pa: PolicyAgent, name: string, pid: number): Promise<ExportedEvent> {
  const [e] = await pa.agent.waitFor(
    (x) => bodyOf(x).policy_name === name && bodyOf(x).process?.pid === pid,
    { count: 1, timeoutMs: 10_000 },
  );
  return bodyOf(e!);
}

const setpriority = (nice: number) =>
  runPerl(`setpriority(0, 0, ${nice}) or do { print "errno=", $!+0; exit 3 }; print "ok"; exit 0;`);

Deno.test(
  requires(
    "policy e2e: kernel-function and LSM hooks (fentry/fexit, kprobe, BPF LSM)",
    ...POLICY_ENGINE_NEEDS,
  ),
  async (t) => {
    await using pa = await startPolicyAgent(FILES);
    const features = await kernelFeatures(pa);
    const fentry = features.fentry?.supported === true;
    const kprobe = features.kprobe?.supported === true;
    const lsm = features.lsm?.supported === true;
    const fn = fentry ? "fentry" : "kprobe";
    const functions = fentry || kprobe;
    const why =
      `this kernel has neither fentry (${features.fentry?.reason}) nor kprobes (${features.kprobe?.reason}): run it in the lab`;

    await t.step("the planner's choice per hook is what this kernel allows", async () => {
      const expect: Record<string, string | null> = {
        // A kernel function: fentry, else kprobe.
        "fn-setnice": functions ? fn : null,
        // Override on a security_* function: fmod_ret (fentry); no bpf_override_return here.
        "fmod-ret-setnice": fentry ? "fentry" : null,
        // Args and return value in one event: fexit, else a kretprobe with its entry stash.
        "fexit-getpgid": functions ? fn : null,
        // A syscall: fentry, else kprobe, else its own tracepoint.
        "kill-getpgid": functions ? fn : "syscall_tracepoint",
        // BPF LSM, else (observation and Sigkill) fentry/kprobe on security_task_setnice.
        "lsm-kill": lsm ? "lsm" : functions ? fn : null,
        // Override needs BPF LSM (no bpf_override_return on these kernels).
        "lsm-override": lsm ? "lsm" : null,
        "lsm-monitor": lsm ? "lsm" : null,
      };
      for (const [name, want] of Object.entries(expect)) {
        const s = await pa.status(name);
        if (want === null) {
          assert.equal(s.state, "error", `${name}: ${JSON.stringify(s)}`);
          assert.ok((s.reason ?? "") !== "", `${name}: no reason`);
          continue;
        }
        assert.equal(s.state, "enabled", `${name}: ${s.reason}`);
        assert.ok(
          s.hooks.every((h) => h.mechanism.startsWith(`${want} `) && h.attached),
          `${name}: want ${want}: ${JSON.stringify(s.hooks)}`,
        );
      }
      if (lsm) {
        // Three policies hook task_setnice: one program runs all three.
        const loads = pa.agent.logs().filter((l) =>
          l.includes('"msg":"policy engine: loaded a program"') &&
          l.includes("vigil_lsm|task_setnice")
        );
        assert.equal(loads.length, 1, loads.join("\n"));
      }
      if (!lsm && functions) {
        assert.match((await pa.status("lsm-override")).reason ?? "", /Override/);
      }
      if (fentry) {
        const [h] = (await pa.status("fmod-ret-setnice")).hooks;
        assert.equal(h?.mechanism, "fentry security_task_setnice (fmod_ret)");
      } else {
        assert.match((await pa.status("fmod-ret-setnice")).reason ?? "", /Override|fentry/);
      }
    });

    await t.step({
      name: `a hook on security_task_setnice fires for the matching call only${
        functions ? "" : ` [IGNORED: ${why}]`
      }`,
      ignore: !functions,
      fn: async () => {
        const before = (await pa.counters("fn-setnice")).posted;
        const miss = await setpriority(14);
        assert.equal(miss.code, 0, miss.stdout + miss.stderr);
        const hit = await setpriority(13);
        assert.equal(hit.code, 0, hit.stdout + hit.stderr);
        const e = await waitEvent(pa, "fn-setnice", hit.pid);
        assert.equal(e.function_name, "security_task_setnice");
        assert.deepEqual(e.args, [{ int_arg: 13, label: "nice" }]);
        assert.equal(e.action, "KPROBE_ACTION_POST");
        await settle();
        assert.equal((await pa.counters("fn-setnice")).posted, before + 1);
        assert.ok(!pa.eventsOf("fn-setnice").some((x) => bodyOf(x).process?.pid === miss.pid));
      },
    });

    await t.step({
      name: `${fentry ? "fexit" : "kretprobe"} on getpgid sees the argument and the return value${
        functions ? "" : ` [IGNORED: ${why}]`
      }`,
      ignore: !functions,
      fn: async () => {
        const r = await runPerl(`${syscallCode(NR.getpgid, MARKER)} print $!+0; exit 0;`);
        assert.equal(r.stdout.trim(), "3", "getpgid of a missing pid fails with ESRCH");
        const e = await waitEvent(pa, "fexit-getpgid", r.pid);
        assert.equal(e.function_name, "__x64_sys_getpgid");
        assert.deepEqual(e.return, { int_arg: -3 });
        assert.deepEqual(e.args, [{ int_arg: MARKER, label: "pid" }]);
      },
    });

    await t.step(
      `Sigkill from a syscall hook (through ${functions ? fn : "its tracepoint"}) kills the caller`,
      async () => {
        const r = await runPerl(`${syscallCode(NR.getpgid, KILL_MARKER)} print "survived";`);
        assert.equal(r.signal, "SIGKILL", `stdout ${r.stdout}`);
        assert.equal(r.stdout, "");
        const e = await waitEvent(pa, "kill-getpgid", r.pid);
        assert.equal(e.action, "KPROBE_ACTION_SIGKILL");
      },
    );

    const lsmOrFn = lsm || functions;
    await t.step({
      name: `Sigkill from the LSM hook task_setnice kills the caller${
        lsmOrFn ? "" : ` [IGNORED: no BPF LSM and ${why}]`
      }`,
      ignore: !lsmOrFn,
      fn: async () => {
        const r = await setpriority(12);
        assert.equal(r.signal, "SIGKILL", `stdout ${r.stdout}`);
        const e = await waitEvent(pa, "lsm-kill", r.pid);
        assert.equal(e.action, "KPROBE_ACTION_SIGKILL");
        assert.equal(e.function_name, "task_setnice");
      },
    });

    await t.step({
      name: `LSM Override: setpriority fails with EPERM and the event says so${
        lsm ? "" : " [IGNORED: BPF LSM is not active here; the refusal is asserted above]"
      }`,
      ignore: !lsm,
      fn: async () => {
        const r = await setpriority(11);
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.equal(r.stdout.trim(), "errno=1");
        const e = await waitEvent(pa, "lsm-override", r.pid);
        assert.equal(e.action, "KPROBE_ACTION_OVERRIDE");
        assert.equal(e.policy_mode, undefined);
        assert.deepEqual(e.args, [{ int_arg: 11, label: "nice" }]);
      },
    });

    await t.step({
      name: `fmod_ret Override on security_task_setnice: setpriority fails with EPERM${
        fentry ? "" : ` [IGNORED: no fentry here: ${features.fentry?.reason}]`
      }`,
      ignore: !fentry,
      fn: async () => {
        const r = await setpriority(9);
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.equal(r.stdout.trim(), "errno=1");
        const e = await waitEvent(pa, "fmod-ret-setnice", r.pid);
        assert.equal(e.action, "KPROBE_ACTION_OVERRIDE");
        assert.equal(e.function_name, "security_task_setnice");
        assert.deepEqual(e.args, [{ int_arg: 9, label: "nice" }]);
        const ok = await setpriority(8);
        assert.equal(ok.code, 0, "another nice value still works: " + ok.stdout + ok.stderr);
      },
    });

    await t.step(
      `hot replace of a syscall hook (${
        functions ? fn : "its tracepoint"
      }): no call without an event, then only the new version`,
      async () => {
        // The loop calls until the test drops the stop file, then 10 more: it runs through the
        // replacement whatever the host's speed, and prints how many calls it made.
        const stop = `${pa.work}/replace-stop`;
        const pause = 0.01 * Number(Deno.env.get("VIGIL_TEST_TIME_SCALE") ?? "1");
        const loop = runPerl(
          `my ($n, $after) = (0, 0); while ($n < 50000) { ` +
            `syscall(${NR.getpgid}, ${REPLACE_LO} + $n); $n++; ` +
            `select(undef, undef, undef, ${pause}); ` +
            `last if -e ${perlString(stop)} && ++$after > 10; } print $n;`,
        );
        const byLoop = (version: string) => (x: ExportedEvent) =>
          bodyOf(x).policy_name === "replace-getpgid" && bodyOf(x).message === version &&
          (bodyOf(x).args?.[0]?.int_arg ?? 0) >= REPLACE_LO;
        await pa.agent.waitFor(byLoop("v1"), { count: 1, timeoutMs: 10_000 });
        await pa.apply(policy("replace-getpgid", replaceGetpgid("v2")));
        await pa.agent.waitFor(byLoop("v2"), { count: 1, timeoutMs: 10_000 });
        await Deno.writeTextFile(stop, "");
        const ran = await loop;
        const calls = Number(ran.stdout);
        assert.ok(calls > 0 && calls < 50000, `loop: ${ran.stdout} ${ran.stderr}`);
        await settle();
        const seen = new Set(
          pa.eventsOf("replace-getpgid")
            .filter((e) => bodyOf(e).process?.pid === ran.pid)
            .map((e) => bodyOf(e).args?.[0]?.int_arg),
        );
        const missing = [...Array(calls).keys()].filter((i) => !seen.has(REPLACE_LO + i));
        assert.deepEqual(missing, [], "calls of the loop without an event");
        const messages = new Set(
          pa.eventsOf("replace-getpgid").filter((e) => bodyOf(e).process?.pid === ran.pid)
            .map((e) => bodyOf(e).message),
        );
        // The reload happened mid-loop: both versions posted calls of it.
        assert.ok(
          messages.has("v1") && messages.has("v2"),
          `versions that posted: ${[...messages]}`,
        );
        const after = await runPerl(`${syscallCode(NR.getpgid, REPLACE_LO + 5)} exit 0;`);
        const [e] = await pa.agent.waitFor(
          (x) =>
            bodyOf(x).policy_name === "replace-getpgid" && bodyOf(x).process?.pid === after.pid,
          { count: 1, timeoutMs: 10_000 },
        );
        await settle();
        const afterEvents = pa.eventsOf("replace-getpgid").filter((x) =>
          bodyOf(x).process?.pid === after.pid
        );
        assert.deepEqual(afterEvents.map((x) => bodyOf(x).message), ["v2"], "old version gone");
        assert.equal(bodyOf(e!).message, "v2");
        const status = await pa.status("replace-getpgid");
        assert.ok(status.hooks.every((h) => h.attached), JSON.stringify(status.hooks));
        // Both versions, and kill-getpgid, ran in the one program loaded for that point.
        if (fentry) {
          const loads = pa.agent.logs().filter((l) =>
            l.includes('"msg":"policy engine: loaded') &&
            l.includes("vigil_fentry|__x64_sys_getpgid")
          );
          assert.equal(loads.length, 1, loads.join("\n"));
        }
      },
    );

    await t.step({
      name: `monitor mode: the Override is posted, flagged, and not applied${
        lsm ? "" : " [IGNORED: BPF LSM is not active here]"
      }`,
      ignore: !lsm,
      fn: async () => {
        const r = await setpriority(10);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const e = await waitEvent(pa, "lsm-monitor", r.pid);
        assert.equal(e.action, "KPROBE_ACTION_OVERRIDE");
        assert.equal(e.policy_mode, "monitor");
      },
    });
  },
);
