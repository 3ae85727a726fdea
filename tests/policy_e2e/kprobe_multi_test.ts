/**
 * Real kernel, real processes: a kprobes hook whose `call` is a list of 10 syscalls. Where the
 * kernel has kprobe_multi links (fprobe, 5.18+: the lab's 6.12) the whole list attaches through
 * one kprobe_multi link, each function's attach slot as its cookie; elsewhere (6.1, 5.10) it keeps
 * the per-function plan. The agent runs with `--policy-mechanisms kprobe` so that plan is the one
 * shared kprobe program (fentry would load and verify 10 programs: +45 s on the emulated 6.1;
 * kprobe_multi outranks fentry for long lists, tests/policy/plan_functions_test.ts). Either way it posts each listed call of a matching
 * process with the right function_name, and nothing for a process its selector turns down; a hot
 * replace closes the old version's link with it. Runs
 * for real in the lab (`labrun --kernel 6.12|6.1 -- deno test -A
 * tests/policy_e2e/kprobe_multi_test.ts`); on a kernel without fentry and kprobes the policy is
 * refused and the event step is ignored loudly.
 */
import assert from "node:assert/strict";
import {
  bodyOf,
  kernelFeatures,
  NR,
  PERL,
  policy,
  runPerl,
  settle,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";

/** A pid nobody has: getpgid and getsid of it fail with ESRCH. */
const MARKER = 3_999_941;
/** The replacing version's marker. */
const MARKER_V2 = 3_999_943;
const SYSCALLS = [
  "sys_getpgid",
  "sys_getsid",
  "sys_getppid",
  "sys_getpgrp",
  "sys_getuid",
  "sys_geteuid",
  "sys_getgid",
  "sys_getegid",
  "sys_umask",
  "sys_getpriority",
];

const spec = (marker: number) =>
  `  lists:
  - name: ids
    type: syscalls
    values: [${SYSCALLS.join(", ")}]
  kprobes:
  - call: "list:ids"
    syscall: true
    args:
    - index: 0
      type: int
      label: pid
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
      matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

/** The kprobe_multi links process `pid` holds (its fds' `link_type` in /proc fdinfo). */
function kprobeMultiLinks(pid: number): number {
  let n = 0;
  for (const fd of Deno.readDirSync(`/proc/${pid}/fdinfo`)) {
    try {
      if (
        /^link_type:\s+kprobe_multi$/m.test(Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd.name}`))
      ) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

Deno.test(
  requires(
    "policy e2e: a long kprobes call list through one kprobe_multi link",
    ...POLICY_ENGINE_NEEDS,
  ),
  async (t) => {
    const tag = crypto.randomUUID().slice(0, 8);
    let copy = "";
    await using pa = await startPolicyAgent(async (w) => {
      copy = `${w}/perl-${tag}`;
      await Deno.copyFile(PERL, copy);
      return { "ids.yaml": policy("kmulti-ids", spec(MARKER)) };
    }, ["--policy-mechanisms", "kprobe"]);
    const features = await kernelFeatures(pa);
    const multi = features.kprobe_multi?.supported === true;
    const runs = multi || features.kprobe?.supported === true;
    const why = `no kprobes here (${features.kprobe?.reason}): run it in the lab`;

    await t.step(
      `the list is planned on ${multi ? "one kprobe_multi link" : "per-function attachments"}`,
      async () => {
        const s = await pa.status("kmulti-ids");
        if (!runs) {
          assert.equal(s.state, "error", JSON.stringify(s));
          return;
        }
        assert.equal(s.state, "enabled", `${s.reason}`);
        assert.equal(s.hooks.length, SYSCALLS.length, JSON.stringify(s.hooks));
        for (const h of s.hooks) {
          assert.ok(h.attached, JSON.stringify(h));
          assert.equal(h.mechanism.startsWith("kprobe_multi "), multi, JSON.stringify(h));
        }
        const links = pa.agent.logs().filter((l) => l.includes("attached a kprobe_multi link"));
        assert.equal(links.length, multi ? 1 : 0, links.join("\n"));
      },
    );

    await t.step({
      name: `two listed calls of perl post with their function_name, a copy of perl's do not${
        runs ? "" : ` [IGNORED: ${why}]`
      }`,
      ignore: !runs,
      fn: async () => {
        const code = `${syscallCode(NR.getpgid, MARKER)} ${syscallCode(NR.getsid, MARKER)} exit 0;`;
        const other = await runPerl(code, { binary: copy });
        const r = await runPerl(code);
        const events = await pa.agent.waitFor(
          (x) => bodyOf(x).policy_name === "kmulti-ids" && bodyOf(x).process?.pid === r.pid,
          { count: 2, timeoutMs: 10_000 },
        );
        assert.deepEqual(
          events.map((e) => bodyOf(e).function_name).sort(),
          ["__x64_sys_getpgid", "__x64_sys_getsid"],
        );
        for (const e of events) {
          assert.deepEqual(bodyOf(e).args, [{ int_arg: MARKER, label: "pid" }]);
        }
        await settle(300);
        const stray = pa.agent.events().filter((x) =>
          bodyOf(x).policy_name === "kmulti-ids" && bodyOf(x).process?.pid === other.pid
        );
        assert.equal(stray.length, 0, JSON.stringify(stray));
        assert.equal(kprobeMultiLinks(pa.agent.pid), multi ? 1 : 0);
      },
    });

    await t.step({
      name: `hot replace: the new version's link replaces the old one's, only it posts${
        runs ? "" : ` [IGNORED: ${why}]`
      }`,
      ignore: !runs,
      fn: async () => {
        await pa.apply(policy("kmulti-ids", spec(MARKER_V2)));
        const s = await pa.status("kmulti-ids");
        assert.equal(s.state, "enabled", `${s.reason}`);
        // The old version's link closed with it: one kprobe_multi link left (none without it).
        assert.equal(kprobeMultiLinks(pa.agent.pid), multi ? 1 : 0);
        const r = await runPerl(
          `${syscallCode(NR.getsid, MARKER)} ${syscallCode(NR.getsid, MARKER_V2)} exit 0;`,
        );
        const [e] = await pa.agent.waitFor(
          (x) => bodyOf(x).policy_name === "kmulti-ids" && bodyOf(x).process?.pid === r.pid,
          { count: 1, timeoutMs: 10_000 },
        );
        assert.deepEqual(bodyOf(e!).args, [{ int_arg: MARKER_V2, label: "pid" }]);
        await settle(300);
        const all = pa.agent.events().filter((x) =>
          bodyOf(x).policy_name === "kmulti-ids" && bodyOf(x).process?.pid === r.pid
        );
        assert.equal(all.length, 1, JSON.stringify(all));
      },
    });
  },
);
