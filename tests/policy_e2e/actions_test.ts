/**
 * Real kernel, real processes: matchActions. Sigkill ends the caller with SIGKILL (its
 * process_exit says so) and the event says KPROBE_ACTION_SIGKILL; Signal delivers argSig to the
 * caller (a shell that traps it); NoPost with Sigkill kills without an event; rateLimit posts
 * identical calls once per window, counted in the kernel; monitor mode posts but does not kill.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import {
  expectOneEvent,
  getprioritySpec,
  NR,
  policy,
  type Ran,
  run,
  runPerl,
  settle,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";

/** `which` Equal `marker` and `who` Equal 1, then `actions` (YAML at 6 spaces). */
function selector(marker: number, actions: string): string {
  return `    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
      - index: 1
        operator: Equal
        values: ["1"]
      matchActions:
${actions.replace(/^\n/, "").trimEnd()}
`;
}

/** getpriority(marker, who), then prints "survived" and exits 0 (if still alive). */
const callAndSurvive = (marker: number, who: number) => () =>
  runPerl(`${syscallCode(NR.getpriority, marker, who)} print "survived"; exit 0;`);

const CHDIR_SIGNAL = (prefix: string) =>
  `  kprobes:
  - call: sys_chdir
    syscall: true
    args:
    - index: 0
      type: string
      label: filename
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["${prefix}"]
      matchActions:
      - action: Signal
        argSig: 10
`;

/** A bash that traps SIGUSR1 (exit 42) and changes into `dir` with its `cd` builtin. */
function bashCd(dir: string): Promise<Ran> {
  return run("bash", ["-c", `trap 'exit 42' USR1; cd '${dir}'; echo cd-done; exit 0`]);
}

const killed = (r: Ran) => {
  assert.equal(r.signal, "SIGKILL", `expected SIGKILL, got ${JSON.stringify(r)}`);
  assert.equal(r.stdout, "");
};

Deno.test({
  ...requires(
    "policy e2e: Sigkill, Signal, NoPost, rateLimit, monitor mode",
    ...POLICY_ENGINE_NEEDS,
  ),
  async fn(t) {
    await using pa = await startPolicyAgent(async (w) => {
      await Deno.mkdir(`${w}/sig/target`, { recursive: true });
      await Deno.mkdir(`${w}/other`);
      return {
        "sigkill.yaml": policy(
          "act-sigkill",
          getprioritySpec(selector(7401, "      - action: Sigkill")),
        ),
        "nopost.yaml": policy(
          "act-nopost",
          getprioritySpec(selector(7402, "      - action: Sigkill\n      - action: NoPost")),
        ),
        "ratelimit.yaml": policy(
          "act-ratelimit",
          getprioritySpec(`    - matchArgs:
      - index: 0
        operator: Equal
        values: ["7403"]
      matchActions:
      - action: Post
        rateLimit: "1m"
`),
        ),
        "monitor.yaml": policy(
          "act-monitor",
          getprioritySpec(selector(7404, "      - action: Sigkill")) + `  options:
  - name: policy-mode
    value: monitor
`,
        ),
        "signal.yaml": policy("act-signal", CHDIR_SIGNAL(`${w}/sig/`)),
      };
    });
    const all = await pa.policies();
    assert.deepEqual(all.filter((p) => p.state !== "enabled").map((p) => [p.name, p.reason]), []);
    assert.equal((await pa.status("act-monitor")).mode, "monitor");

    await t.step("Sigkill: the caller dies by SIGKILL, exit and policy events say so", async () => {
      const c0 = await pa.counters("act-sigkill");
      const body = await expectOneEvent(pa, "act-sigkill", {
        miss: callAndSurvive(7401, 2),
        hit: callAndSurvive(7401, 1),
        hitEnded: killed,
      }, (b) => {
        assert.equal(b.action, "KPROBE_ACTION_SIGKILL");
        assert.deepEqual(b.args, [{ int_arg: 7401, label: "which" }, { int_arg: 1, label: "who" }]);
      });
      const pid = body.process.pid;
      const [exit] = await pa.agent.waitFor((e) => e.process_exit?.process?.pid === pid);
      assert.equal(exit!.process_exit.signal, "SIGKILL");
      const c1 = await pa.counters("act-sigkill");
      assert.equal(c1.signals, c0.signals + 1);
    });

    await t.step("Signal argSig 10: the shell's SIGUSR1 trap runs after its cd", async () => {
      const c0 = await pa.counters("act-signal");
      await expectOneEvent(pa, "act-signal", {
        miss: async () => {
          const r = await bashCd(`${pa.work}/other`);
          assert.equal(r.stdout, "cd-done\n");
          return r;
        },
        hit: () => bashCd(`${pa.work}/sig/target`),
        hitEnded: (r) => {
          assert.equal(r.code, 42, `the trap did not run: ${JSON.stringify(r)}`);
          assert.equal(r.stdout, "", "the shell went on after the signal");
        },
      }, (b) => {
        assert.equal(b.function_name, "__x64_sys_chdir");
        assert.equal(b.action, "KPROBE_ACTION_SIGNAL");
        assert.deepEqual(b.args, [{ string_arg: `${pa.work}/sig/target`, label: "filename" }]);
      });
      assert.equal((await pa.counters("act-signal")).signals, c0.signals + 1);
    });

    await t.step("NoPost + Sigkill: killed, no event, counted as a signal", async () => {
      const c0 = await pa.counters("act-nopost");
      const spared = await callAndSurvive(7402, 2)();
      assert.equal(spared.stdout, "survived");
      const r = await callAndSurvive(7402, 1)();
      killed(r);
      const [exit] = await pa.agent.waitFor((e) => e.process_exit?.process?.pid === r.pid);
      assert.equal(exit!.process_exit.signal, "SIGKILL");
      await settle();
      assert.deepEqual(pa.eventsOf("act-nopost"), []);
      const c1 = await pa.counters("act-nopost");
      assert.equal(c1.signals, c0.signals + 1);
      assert.equal(c1.posted, 0);
      assert.ok(c1.filtered > c0.filtered, JSON.stringify([c0, c1]));
    });

    await t.step("rateLimit 1m: 5 identical calls post once; another arg posts", async () => {
      const c0 = await pa.counters("act-ratelimit");
      const code = `${syscallCode(NR.getpriority, 7403, 1)} `.repeat(5) +
        syscallCode(NR.getpriority, 7403, 2);
      const r = await runPerl(code);
      assert.equal(r.code, 0, r.stderr);
      const events = await pa.waitForPolicyEvents(
        "act-ratelimit",
        (b) => b.process?.pid === r.pid,
        2,
      );
      await settle();
      assert.deepEqual(
        pa.eventsOf("act-ratelimit").map((e) => e.process_kprobe.args[1].int_arg),
        [1, 2],
      );
      assert.equal(events.length, 2);
      const c1 = await pa.counters("act-ratelimit");
      assert.equal(c1.rateLimited, c0.rateLimited + 4, JSON.stringify([c0, c1]));
      assert.equal(c1.posted, c0.posted + 2);
      assert.equal(c1.posted, pa.eventsOf("act-ratelimit").length);
    });

    await t.step("monitor mode: Sigkill is not taken, the event is still posted", async () => {
      const c0 = await pa.counters("act-monitor");
      await expectOneEvent(pa, "act-monitor", {
        miss: callAndSurvive(7404, 2),
        hit: callAndSurvive(7404, 1),
        hitEnded: (r) => {
          assert.equal(r.signal, null);
          assert.equal(r.stdout, "survived");
        },
      }, (b) => {
        assert.deepEqual(b.args[0], { int_arg: 7404, label: "which" });
      });
      assert.equal((await pa.counters("act-monitor")).signals, c0.signals);
    });
  },
});
