/**
 * Mechanism choice per kernel: the development machine (no kprobes, fentry, LSM), a hypothetical
 * kernel where everything works (with and without an engine that has those programs), and
 * kernels in between.
 */
import assert from "node:assert/strict";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import {
  DEBIAN_5_10,
  errorMessages,
  EVERYTHING_KERNEL,
  facts,
  FULL_ENGINE,
  onlyHook,
  planSpec,
  policyFile,
  THIS_KERNEL,
} from "./plan_fixtures.ts";

const EXAMPLES = [
  "policies/connect_port.yaml",
  "policies/etc_reads.yaml",
  "policies/file_deletion.yaml",
  "policies/kill_named_binary.yaml",
  "policies/privilege_change.yaml",
];

Deno.test("planPolicy() runs every example here: syscall hooks on their own tracepoints", () => {
  for (const file of EXAMPLES) {
    const plan = planPolicy(policyFile(file), facts());
    assert.deepEqual(plan.errors, [], file);
    assert.equal(plan.runnable, true, file);
    for (const h of plan.hooks) {
      if (h.source.list === "kprobes") {
        assert.equal(h.mechanism, "syscall_tracepoint", h.name);
        assert.equal(h.cost.class, "syscall-slow-path", h.name);
        assert.match(h.why, /^fentry and kprobe are not usable on this kernel/, h.name);
        assert.deepEqual(h.options.map((o) => [o.mechanism, o.usable]), [
          ["fentry", false],
          ["kprobe", false],
          ["syscall_tracepoint", true],
        ]);
        assert.match(h.options[1]?.reason ?? "", /kernel built without CONFIG_KPROBES/);
      }
    }
  }
  const dels = planPolicy(policyFile("policies/file_deletion.yaml"), facts());
  assert.deepEqual(dels.hooks.map((h) => h.attach), [
    { kind: "tracepoint", subsystem: "syscalls", event: "sys_enter_unlinkat" },
    { kind: "tracepoint", subsystem: "syscalls", event: "sys_enter_unlink" },
    { kind: "tracepoint", subsystem: "syscalls", event: "sys_enter_rmdir" },
  ]);
  assert.deepEqual(dels.hooks.map((h) => h.event.functionName), [
    "__x64_sys_unlinkat",
    "__x64_sys_unlink",
    "__x64_sys_rmdir",
  ]);
});

Deno.test("planPolicy() keeps a sched tracepoint as written, at negligible cost", () => {
  const hook = onlyHook(planPolicy(policyFile("policies/kill_named_binary.yaml"), facts()));
  assert.equal(hook.mechanism, "tracepoint");
  assert.deepEqual(hook.attach, {
    kind: "tracepoint",
    subsystem: "sched",
    event: "sched_process_exec",
  });
  assert.equal(hook.cost.class, "negligible");
  assert.deepEqual(hook.event, {
    kind: "process_tracepoint",
    subsys: "sched",
    event: "sched_process_exec",
    policyName: "kill-named-binary",
    message: "forbidden binary executed: killed",
    tags: ["security.enforcement"],
  });
});

Deno.test("planPolicy() picks fentry on a kernel and engine that have it", () => {
  const f = facts({ features: EVERYTHING_KERNEL, engine: FULL_ENGINE });
  const plan = planPolicy(policyFile("policies/file_deletion.yaml"), f);
  assert.equal(plan.runnable, true);
  const [first] = plan.hooks;
  assert.equal(first?.mechanism, "fentry");
  assert.deepEqual(first?.attach, { kind: "fentry", function: "__x64_sys_unlinkat" });
  assert.equal(first?.cost.class, "per-call");
  assert.match(first?.why ?? "", /^fentry: the cheapest mechanism for the syscall unlinkat/);
  assert.deepEqual(first?.args.map((a) => [a.kind, a.ctxOffset]), [
    ["VIGIL_ARG_INT", 0],
    ["VIGIL_ARG_STRING", 8],
    ["VIGIL_ARG_INT", 16],
  ]);
});

Deno.test("planPolicy() picks kprobe when fentry is refused, and says why", () => {
  const features = {
    ...EVERYTHING_KERNEL,
    fentry: { supported: false, reason: "load refused: EPERM (1)" },
  };
  const hook = planPolicy(
    policyFile("policies/file_deletion.yaml"),
    facts({ features, engine: FULL_ENGINE }),
  ).hooks[0];
  assert.equal(hook?.mechanism, "kprobe");
  assert.match(hook?.why ?? "", /^fentry is not usable on this kernel/);
  assert.equal(hook?.options[0]?.reason, "this kernel refuses fentry: load refused: EPERM (1)");
});

Deno.test("planPolicy() with the mechanism table's programs: a syscall hook goes through fentry", () => {
  const hook = planPolicy(
    policyFile("policies/file_deletion.yaml"),
    facts({ features: EVERYTHING_KERNEL }),
  ).hooks[0];
  assert.equal(hook?.mechanism, "fentry");
  assert.deepEqual(hook?.attach, { kind: "fentry", function: "__x64_sys_unlinkat" });
  assert.equal(hook?.syscall, true, "args come from the wrapper's pt_regs");
});

Deno.test("planPolicy() stays on tracepoints when --policy-mechanisms leaves fentry/kprobe out", () => {
  const hook = planPolicy(
    policyFile("policies/file_deletion.yaml"),
    facts({ features: EVERYTHING_KERNEL, engine: ["tracepoint"] }),
  ).hooks[0];
  assert.equal(hook?.mechanism, "syscall_tracepoint");
  assert.equal(
    hook?.options[0]?.reason,
    "this kernel supports fentry, but --policy-mechanisms leaves fentry out (allowed: tracepoint)",
  );
});

Deno.test("planPolicy() expands list: calls into one hook per syscall", () => {
  const plan = planSpec([
    "  lists:",
    "  - name: dels",
    "    type: syscalls",
    "    values: [sys_unlinkat, sys_unlink, sys_rmdir]",
    "  kprobes:",
    '  - call: "list:dels"',
    "    args:",
    "    - index: 0",
    "      type: int",
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  assert.deepEqual(plan.hooks.map((h) => [h.name, h.source.target, h.attach]), [
    ["kprobes[0] sys_unlinkat", "sys_unlinkat", {
      kind: "tracepoint",
      subsystem: "syscalls",
      event: "sys_enter_unlinkat",
    }],
    ["kprobes[0] sys_unlink", "sys_unlink", {
      kind: "tracepoint",
      subsystem: "syscalls",
      event: "sys_enter_unlink",
    }],
    ["kprobes[0] sys_rmdir", "sys_rmdir", {
      kind: "tracepoint",
      subsystem: "syscalls",
      event: "sys_enter_rmdir",
    }],
  ]);
});

Deno.test("planPolicy() refuses a non-syscall kprobe here with the probe's reasons", () => {
  const plan = planPolicy(
    policyFile("tests/fixtures/policy/not_runnable/kprobe_fd_install.yaml"),
    facts(),
  );
  assert.equal(plan.runnable, false);
  const hook = onlyHook(plan);
  assert.equal(hook.mechanism, null);
  assert.deepEqual(hook.options.map((o) => o.mechanism), ["fentry", "kprobe"]);
  assert.match(
    plan.reason ?? "",
    /^spec\.kprobes\[0\]: kprobe on fd_install cannot run on this kernel: fentry: this kernel refuses fentry: .*; kprobe: this kernel refuses kprobe: .*kernel built without CONFIG_KPROBES/,
  );
  assert.equal(plan.errors[0]?.line, 9);
  // Where the kernel has kprobes, the hook attaches and the kernel reads the file's path.
  const elsewhere = planPolicy(
    policyFile("tests/fixtures/policy/not_runnable/kprobe_fd_install.yaml"),
    facts({ features: { ...EVERYTHING_KERNEL, fentry: THIS_KERNEL.fentry }, engine: FULL_ENGINE }),
  );
  assert.equal(elsewhere.runnable, true, JSON.stringify(errorMessages(elsewhere)));
  assert.equal(onlyHook(elsewhere).mechanism, "kprobe");
  assert.deepEqual(onlyHook(elsewhere).args.map((a) => a.kind), [
    "VIGIL_ARG_INT",
    "VIGIL_ARG_FILE",
  ]);
});

Deno.test("planPolicy() refuses an LSM hook here with the LSM probe's reason", () => {
  const plan = planPolicy(
    policyFile("tests/fixtures/policy/not_runnable/lsm_file_open.yaml"),
    facts(),
  );
  assert.equal(plan.runnable, false);
  assert.match(
    plan.reason ?? "",
    /^spec\.lsmhooks\[0\]: LSM hook file_open cannot run on this kernel: lsm: this kernel refuses lsm: bpf is listed in \/sys\/kernel\/security\/lsm/,
  );
  const lsmKernel = planPolicy(
    policyFile("tests/fixtures/policy/not_runnable/lsm_file_open.yaml"),
    facts({ features: EVERYTHING_KERNEL, engine: FULL_ENGINE }),
  );
  const hook = onlyHook(lsmKernel);
  assert.equal(hook.mechanism, "lsm");
  assert.deepEqual(hook.attach, { kind: "lsm", hook: "file_open" });
  assert.equal(hook.event.kind, "process_lsm");
});

Deno.test("planPolicy() refuses fentries[] hooks where fentry is refused (no fallback asked for)", () => {
  const plan = planSpec([
    "  fentries:",
    "  - call: sys_unlinkat",
    "    syscall: true",
  ]);
  assert.equal(plan.runnable, false);
  assert.match(
    plan.reason ?? "",
    /fentry on __x64_sys_unlinkat cannot run on this kernel: fentry: this kernel refuses fentry/,
  );
});

Deno.test("planPolicy() refuses uprobes: the engine has no uprobe program", () => {
  const plan = planSpec([
    "  uprobes:",
    "  - path: /bin/bash",
    "    symbols: [readline]",
  ], facts({ features: EVERYTHING_KERNEL, engine: FULL_ENGINE }));
  assert.equal(plan.runnable, false);
  assert.match(
    plan.reason ?? "",
    /uprobe on \/bin\/bash:readline cannot run: vigil's policy engine has no uprobe program yet/,
  );
});

Deno.test("planPolicy() splits return: true into entry and exit tracepoint hooks", () => {
  const plan = planSpec([
    "  kprobes:",
    "  - call: sys_unlinkat",
    "    return: true",
    "    args:",
    "    - index: 1",
    "      type: string",
    "    returnArg:",
    "      index: 0",
    "      type: int",
    "      label: ret",
    "    selectors:",
    "    - matchReturnArgs:",
    "      - index: 0",
    "        operator: LT",
    '        values: ["0"]',
  ]);
  assert.equal(plan.runnable, true, String(plan.reason));
  const [entry, exit] = plan.hooks;
  assert.equal(plan.hooks.length, 2);
  assert.deepEqual(entry?.attach, {
    kind: "tracepoint",
    subsystem: "syscalls",
    event: "sys_enter_unlinkat",
  });
  assert.equal(entry?.exit, false);
  assert.equal(entry?.event.returnArg, undefined);
  assert.deepEqual(entry?.selectors[0]?.argFilters, [], "matchReturnArgs belong to the exit");
  assert.deepEqual(exit?.attach, {
    kind: "tracepoint",
    subsystem: "syscalls",
    event: "sys_exit_unlinkat",
  });
  assert.equal(exit?.source.role, "exit");
  assert.equal(exit?.exit, true);
  assert.equal(exit?.retOffset, 16);
  assert.deepEqual(exit?.args.map((a) => [a.role, a.kind, a.ctxOffset, a.size]), [
    ["return", "VIGIL_ARG_INT", 16, 4],
  ]);
  assert.deepEqual(exit?.selectors[0]?.argFilters.map((f) => [f.arg, f.op, f.values]), [
    [0, "VIGIL_MATCH_LT", [0n]],
  ]);
  assert.deepEqual(exit?.event.returnArg, { json: "int_arg", type: "int", label: "ret" });
  assert.match(plan.warnings.map((w) => w.message).join("\n"), /posts two events per call/);
});

Deno.test("planPolicy() refuses a return: true selector that mixes entry args and the return", () => {
  const plan = planPolicy(
    policyFile("tests/fixtures/policy/not_runnable/open_return_filtered.yaml"),
    facts(),
  );
  assert.equal(plan.runnable, false);
  assert.match(
    plan.reason ?? "",
    /matchArgs\[0\]: this selector filters entry args \(matchArgs\) of a return: true hook/,
  );
  // With fexit, one program sees both: runnable.
  const fexit = planPolicy(
    policyFile("tests/fixtures/policy/not_runnable/open_return_filtered.yaml"),
    facts({ features: EVERYTHING_KERNEL, engine: FULL_ENGINE }),
  );
  assert.equal(fexit.runnable, true, String(fexit.reason));
  const hook = onlyHook(fexit);
  assert.deepEqual(hook.attach, { kind: "fexit", function: "__x64_sys_openat" });
  assert.deepEqual(hook.selectors[0]?.argFilters.map((f) => [f.arg, f.op]), [
    [0, "VIGIL_MATCH_PREFIX"],
    [1, "VIGIL_MATCH_LT"],
  ]);
});

Deno.test("planPolicy() explains a syscall whose tracepoint this kernel lacks", () => {
  const plan = planSpec([
    "  kprobes:",
    "  - call: sys_renameat2",
  ]);
  assert.equal(plan.runnable, false);
  assert.match(
    plan.reason ?? "",
    /syscall_tracepoint: this kernel has no tracepoint syscalls\/sys_enter_renameat2/,
  );
});

Deno.test("planPolicy() skips a missing syscall with ignore.callNotFound, with a warning", () => {
  const plan = planSpec([
    "  kprobes:",
    "  - call: sys_renameat2",
    "    ignore:",
    "      callNotFound: true",
  ]);
  assert.equal(plan.runnable, true);
  assert.deepEqual(plan.hooks, []);
  assert.match(plan.warnings[0]?.message ?? "", /sys_renameat2 is skipped \(ignore.callNotFound\)/);
});

Deno.test("planPolicy() refuses policy-level features vigil lacks, at their location", () => {
  const plan = planSpec([
    "  podSelector:",
    "    matchLabels:",
    "      app: web",
    "  kprobes:",
    "  - call: sys_unlinkat",
  ]);
  assert.equal(plan.runnable, false);
  assert.equal(plan.errors[0]?.path, "spec.podSelector");
  assert.match(plan.errors[0]?.message ?? "", /in-kernel pod\/container filter/);
  assert.equal(plan.hooks[0]?.runnable, true, "the hook itself is fine");
});

Deno.test("planPolicy() on Debian's 5.10: every example valid, none runnable, bpf_loop named", () => {
  const NEED =
    /vigil's policy engine needs bpf_loop \(Linux 5\.17\+\), which this kernel refuses: load failed: EINVAL \(22\): number of funcs in func_info doesn't match number of subprogs/;
  for (const file of EXAMPLES) {
    const plan = planPolicy(
      policyFile(file),
      facts({ features: DEBIAN_5_10, engine: FULL_ENGINE }),
    );
    assert.equal(plan.runnable, false, file);
    assert.match(plan.reason ?? "", NEED, file);
    assert.ok(plan.hooks.length > 0, file);
    for (const h of plan.hooks) {
      assert.equal(h.mechanism, null, h.name);
      // The kernel has the attach mechanism (fentry, kprobe, tracepoints); the engine's helper
      // is what is missing, and every option says so.
      for (const o of h.options) {
        assert.equal(o.usable, false, `${h.name} ${o.mechanism}`);
        assert.match(
          o.reason,
          /^this kernel supports \w+, but vigil's policy engine needs bpf_loop/,
        );
      }
    }
  }
});

Deno.test("planPolicy(): the engine's needs are checked only where the attach mechanism works", () => {
  const noLoopNoKprobe = {
    ...EVERYTHING_KERNEL,
    kprobe: { supported: false, reason: "no kprobe PMU" },
    bpf_loop: { supported: null, reason: "EBUSY" },
  };
  const hook = onlyHook(
    planSpec([
      "  kprobes:",
      "  - call: fd_install",
    ], facts({ features: noLoopNoKprobe, engine: ["tracepoint", "kprobe"] })),
  );
  assert.deepEqual(hook.options.map((o) => [o.mechanism, o.reason]), [
    [
      "fentry",
      "this kernel supports fentry, but --policy-mechanisms leaves fentry out " +
      "(allowed: tracepoint,kprobe)",
    ],
    ["kprobe", "this kernel refuses kprobe: no kprobe PMU"],
    [
      "syscall_tracepoint",
      "this kernel supports tracepoint, but vigil's policy engine needs bpf_loop (Linux 5.17+), " +
      "and its probe was inconclusive: EBUSY",
    ],
  ]);
  const withKprobe = onlyHook(
    planSpec(
      ["  kprobes:", "  - call: fd_install"],
      facts({
        features: { ...noLoopNoKprobe, kprobe: EVERYTHING_KERNEL.kprobe },
        engine: ["kprobe"],
      }),
    ),
  );
  assert.equal(
    withKprobe.options[1]?.reason,
    "this kernel supports kprobe, but vigil's policy engine needs bpf_loop (Linux 5.17+), " +
      "and its probe was inconclusive: EBUSY",
  );
});

Deno.test("planPolicy(): a kernel with bpf_loop runs the examples (this machine's capture)", () => {
  assert.equal(THIS_KERNEL.bpf_loop.supported, true);
  for (const file of EXAMPLES) {
    assert.equal(planPolicy(policyFile(file), facts()).runnable, true, file);
  }
});
