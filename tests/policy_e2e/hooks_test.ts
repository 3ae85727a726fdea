/**
 * Real kernel: hooks and the policy directory as a whole. In one directory:
 * - a `tracepoints` hook on sched/sched_process_exec (args from its format: the __data_loc
 *   filename, the pid) and one on a syscall tracepoint (syscalls/sys_enter_getpriority);
 * - the field's expensive raw_syscalls + InMap policy (the fixture), rewritten into per-syscall
 *   tracepoints, still matching; and a variant with NotInMap over a second list;
 * - policies vigil cannot run here (a non-syscall kprobe, an LSM hook): loaded in the `error`
 *   state with this kernel's reason (refused by the kernel, or no engine program yet);
 * - invalid files: the agent logs each error with file:line:col and YAML path.
 * The good policies run regardless of the others.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";
import {
  AT_FDCWD,
  bodyOf,
  expectOneEvent,
  kernelFeatures,
  NR,
  PERL,
  policy,
  run,
  runPerl,
  settle,
  startPolicyAgent,
  syscallCode,
} from "./_helpers.ts";

const FIXTURES = new URL("../fixtures/policy/", import.meta.url).pathname;

const execSpec = (prefix: string) =>
  `  tracepoints:
  - subsystem: sched
    event: sched_process_exec
    args:
    - index: 4
      type: string
      label: filename
    - index: 5
      type: int
      label: pid
    selectors:
    - matchBinaries:
      - operator: Prefix
        values: ["${prefix}"]
`;

const SYSCALL_TP_SPEC = `  tracepoints:
  - subsystem: syscalls
    event: sys_enter_getpriority
    args:
    - index: 5
      type: int
      label: which
    - index: 6
      type: int
      label: who
    selectors:
    - matchArgs:
      - index: 5
        operator: Equal
        values: ["7501"]
`;

const RAW_NOT_IN_MAP = `  lists:
  - name: deletions
    type: syscalls
    values: [sys_unlinkat, sys_unlink, sys_rmdir]
  - name: skipped
    type: syscalls
    values: [sys_unlink]
  tracepoints:
  - subsystem: raw_syscalls
    event: sys_enter
    args:
    - index: 4
      type: syscall64
      label: id
    selectors:
    - matchArgs:
      - index: 4
        operator: InMap
        values: ["list:deletions"]
      - index: 4
        operator: NotInMap
        values: ["list:skipped"]
`;

/** Invalid fixtures and the error the agent must log for each (as `file:line:col: path: msg`). */
const INVALID: Record<string, string> = {
  "unknown_field.yaml":
    `16:9: spec.kprobes[0].selectors[0].matchArgs[0].operater: unknown field "operater" ` +
    `(did you mean "operator"?)`,
  "bad_name.yaml": `5:9: metadata.name: "bad_name" is not a valid DNS subdomain: lower-case ` +
    `letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 ` +
    `characters (try "bad-name")`,
  "too_many_selectors.yaml":
    "19:7: spec.kprobes[0].selectors[5]: at most 5 selectors per hook (Tetragon's limit); found 6",
  "syntax_error.yaml": "5:1: YAML syntax error: Tabs are not allowed as indentation",
};

Deno.test({
  ...requires(
    "policy e2e: tracepoint hooks, raw_syscalls rewrite, error state, invalid files",
    ...POLICY_ENGINE_NEEDS,
  ),
  async fn(t) {
    const tag = crypto.randomUUID().slice(0, 8);
    let copy = "";
    await using pa = await startPolicyAgent(async (w) => {
      await Deno.mkdir(`${w}/bin`);
      copy = `${w}/bin/perl-${tag}`;
      await Deno.copyFile(PERL, copy);
      const files: Record<string, string> = {
        "exec.yaml": policy("tp-exec", execSpec(`${w}/bin/`)),
        "syscall_tp.yaml": policy("tp-getpriority", SYSCALL_TP_SPEC),
        "raw_not_in_map.yaml": policy("raw-notinmap", RAW_NOT_IN_MAP),
      };
      for (const name of ["file_deletion_expensive.yaml"]) {
        files[name] = await Deno.readTextFile(`${FIXTURES}${name}`);
      }
      for (const name of ["kprobe_fd_install.yaml", "lsm_file_open.yaml"]) {
        files[name] = await Deno.readTextFile(`${FIXTURES}not_runnable/${name}`);
      }
      for (const name of Object.keys(INVALID)) {
        files[name] = await Deno.readTextFile(`${FIXTURES}invalid/${name}`);
      }
      return files;
    });

    await t.step("invalid files: the agent logs file:line:col, path and message", () => {
      const rejected = pa.agent.logs().flatMap((l) => {
        try {
          const j = JSON.parse(l);
          return j.msg === "policy rejected" ? [j] : [];
        } catch {
          return [];
        }
      });
      for (const [name, error] of Object.entries(INVALID)) {
        const file = `${pa.policyDir}/${name}`;
        const mine = rejected.filter((j) => j.file === file);
        assert.deepEqual(mine.map((j) => [j.level, j.error]), [["error", `${file}:${error}`]]);
      }
    });

    // fd_install (a kernel function with a file arg) runs where fentry or kprobes do; the
    // file_open LSM hook runs as an LSM program, or without BPF LSM as an observation kprobe on
    // security_file_open. On kernels with neither, both are in error with this kernel's reason.
    const features = await kernelFeatures(pa);
    const functions = features.fentry?.supported === true || features.kprobe?.supported === true;
    const lsmRuns = functions || features.lsm?.supported === true;

    await t.step("the valid policies are listed, the invalid ones are not", async () => {
      const all = await pa.policies();
      assert.deepEqual(all.map((p) => [p.name, p.state]), [
        ["fd-install", functions ? "enabled" : "error"],
        ["file-deletion-expensive", "enabled"],
        ["lsm-file-open", lsmRuns ? "enabled" : "error"],
        ["raw-notinmap", "enabled"],
        ["tp-exec", "enabled"],
        ["tp-getpriority", "enabled"],
      ]);
    });

    await t.step(
      "kprobe and LSM policies: attached, or in error with this kernel's reason",
      async () => {
        const fd = await pa.status("fd-install");
        if (functions) {
          assert.deepEqual(fd.hooks.map((h) => h.attached), [true]);
        } else {
          assert.match(
            fd.reason ?? "",
            /^spec\.kprobes\[0\]: kprobe on fd_install cannot run on this kernel: /,
          );
          assert.match(fd.reason ?? "", /kprobe: this kernel refuses kprobe: /);
          assert.deepEqual(fd.hooks.map((h) => h.attached), [false]);
        }
        const lsm = await pa.status("lsm-file-open");
        if (lsmRuns) {
          assert.deepEqual(lsm.hooks.map((h) => h.attached), [true]);
        } else {
          assert.match(
            lsm.reason ?? "",
            /^spec\.lsmhooks\[0\]: LSM hook file_open cannot run on this kernel: lsm: /,
          );
          assert.deepEqual(lsm.hooks.map((h) => h.attached), [false]);
        }
        const warned = pa.agent.logs().filter((l) =>
          l.includes('"msg":"policy not runnable here"')
        );
        assert.equal(warned.length, (functions ? 0 : 1) + (lsmRuns ? 0 : 1), warned.join("\n"));
      },
    );

    await t.step("sched/sched_process_exec: the exec of the matching binary", async () => {
      await expectOneEvent(pa, "tp-exec", {
        miss: () => run("/bin/true", []),
        hit: () => runPerl("exit 0", { binary: copy }),
      }, (b, hit) => {
        assert.equal(b.subsys, "sched");
        assert.equal(b.event, "sched_process_exec");
        assert.deepEqual(b.args, [
          { string_arg: copy, label: "filename" },
          { int_arg: hit.pid, label: "pid" },
        ]);
        assert.equal(b.action, "KPROBE_ACTION_POST");
      });
    });

    await t.step("syscalls/sys_enter_getpriority tracepoint: args by format index", async () => {
      await expectOneEvent(pa, "tp-getpriority", {
        miss: () => runPerl(syscallCode(NR.getpriority, 7502, 3)),
        hit: () => runPerl(syscallCode(NR.getpriority, 7501, 3)),
      }, (b) => {
        assert.equal(b.subsys, "syscalls");
        assert.equal(b.event, "sys_enter_getpriority");
        assert.deepEqual(b.args, [{ int_arg: 7501, label: "which" }, { int_arg: 3, label: "who" }]);
      });
    });

    await t.step("raw_syscalls + InMap fixture: rewritten per syscall, still matches", async () => {
      const status = await pa.status("file-deletion-expensive");
      const mechanisms = status.hooks.map((h) => h.mechanism).sort();
      assert.deepEqual(mechanisms, [
        "syscall_tracepoint syscalls/sys_enter_rmdir",
        "syscall_tracepoint syscalls/sys_enter_unlink",
        "syscall_tracepoint syscalls/sys_enter_unlinkat",
      ]);
      const r = await runPerl(
        syscallCode(NR.getpriority, 7503, 0) +
          syscallCode(NR.unlinkat, AT_FDCWD, `${pa.work}/raw/gone`, 0),
      );
      assert.equal(r.code, 0, r.stderr);
      await pa.waitForPolicyEvents("file-deletion-expensive", (b) => b.process?.pid === r.pid);
      await settle();
      const mine = pa.eventsOf("file-deletion-expensive").filter((e) =>
        bodyOf(e).process?.pid === r.pid
      );
      assert.deepEqual(mine.map((e) => [e.process_tracepoint.subsys, e.process_tracepoint.event]), [
        ["raw_syscalls", "sys_enter"],
      ]);
      assert.deepEqual(mine[0]!.process_tracepoint.args, [
        { syscall_id: { id: NR.unlinkat, abi: "x64" }, label: "id" },
      ]);
    });

    await t.step(
      "raw_syscalls InMap list + NotInMap list: the skipped syscall is not hooked",
      async () => {
        const status = await pa.status("raw-notinmap");
        assert.deepEqual(status.hooks.map((h) => h.mechanism).sort(), [
          "syscall_tracepoint syscalls/sys_enter_rmdir",
          "syscall_tracepoint syscalls/sys_enter_unlinkat",
        ]);
        const r = await runPerl(
          syscallCode(NR.unlink, `${pa.work}/raw/skipped`) +
            syscallCode(NR.rmdir, `${pa.work}/raw/dir`),
        );
        assert.equal(r.code, 0, r.stderr);
        await pa.waitForPolicyEvents("raw-notinmap", (b) => b.process?.pid === r.pid);
        await settle();
        const mine = pa.eventsOf("raw-notinmap").filter((e) => bodyOf(e).process?.pid === r.pid);
        assert.deepEqual(mine.map((e) => e.process_tracepoint.args[0].syscall_id.id), [NR.rmdir]);
      },
    );
  },
});
