/**
 * The planner's choice for kernel-function and LSM hooks, per kernel (captured or hypothetical
 * feature sets): fentry > kprobe > syscall tracepoint, LSM only where BPF LSM is active (else a
 * kprobe on security_<hook> for observation), Override only where the mechanism can enforce it.
 */
import assert from "node:assert/strict";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import { EVERYTHING_KERNEL, facts, policyFile, policyOf } from "./plan_fixtures.ts";

const NO_BPF_LSM = {
  ...EVERYTHING_KERNEL,
  lsm: { supported: false, reason: "bpf is not listed in /sys/kernel/security/lsm" },
};
const KPROBE_ONLY = {
  ...NO_BPF_LSM,
  fentry: { supported: false, reason: "load refused: EPERM (1)" },
};

function lsmPolicy(action: string): string {
  return `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: lsm-test
spec:
  lsmhooks:
  - hook: inode_mkdir
    args:
    - index: 0
      type: int
    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/mkdir"]
      matchActions:
      - action: ${action}
`;
}

Deno.test("LSM hook where BPF LSM is active: the lsm program, Override as its return value", () => {
  const plan = planPolicy(
    policyOf(lsmPolicy("Override\n        argError: -13")),
    facts({ features: EVERYTHING_KERNEL }),
  );
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = plan.hooks[0]!;
  assert.equal(hook.mechanism, "lsm");
  assert.deepEqual(hook.attach, { kind: "lsm", hook: "inode_mkdir" });
  assert.equal(hook.event.kind, "process_lsm");
  const action = hook.selectors[0]?.actions[0];
  assert.equal(action?.kind, "VIGIL_ACT_OVERRIDE");
  assert.equal(action?.error, -13);
});

Deno.test("LSM hook without bpf in the LSM list: fentry on security_<hook>, observation only", () => {
  const plan = planPolicy(policyOf(lsmPolicy("Post")), facts({ features: NO_BPF_LSM }));
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = plan.hooks[0]!;
  assert.equal(hook.mechanism, "fentry");
  assert.deepEqual(hook.attach, { kind: "fentry", function: "security_inode_mkdir" });
  assert.match(hook.warnings[0]?.message ?? "", /bpf is not listed .* without enforcement/);
  assert.match(hook.why, /security_inode_mkdir, observation only/);
});

Deno.test("LSM hook without BPF LSM: Override is refused with the reason", () => {
  const plan = planPolicy(
    policyOf(lsmPolicy("Override\n        argError: -1")),
    facts({ features: KPROBE_ONLY }),
  );
  assert.equal(plan.runnable, false);
  assert.equal(plan.hooks[0]?.mechanism, "kprobe");
  assert.match(plan.errors[0]?.message ?? "", /Override needs bpf_override_return/);
});

Deno.test("kprobe kernels: a syscall hook goes through a kprobe on the wrapper", () => {
  const hook = planPolicy(
    policyFile("policies/file_deletion.yaml"),
    facts({ features: KPROBE_ONLY }),
  ).hooks[0]!;
  assert.equal(hook.mechanism, "kprobe");
  assert.deepEqual(hook.attach, { kind: "kprobe", function: "__x64_sys_unlinkat" });
  assert.equal(hook.syscall, true);
  assert.deepEqual(hook.args.map((a) => a.ctxOffset), [0, 8, 16]);
});

Deno.test("fexit: the return value is read from the record's return slot", () => {
  const plan = planPolicy(
    policyOf(`apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ret-test
spec:
  kprobes:
  - call: fd_install
    syscall: false
    return: true
    args:
    - index: 0
      type: int
    returnArg:
      index: 0
      type: int
`),
    facts({ features: EVERYTHING_KERNEL }),
  );
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = plan.hooks[0]!;
  assert.deepEqual(hook.attach, { kind: "fexit", function: "fd_install" });
  assert.equal(hook.exit, true);
  assert.equal(hook.retOffset, 48);
  assert.deepEqual(hook.args.map((a) => [a.role, a.ctxOffset]), [["arg", 0], ["return", 48]]);
});

Deno.test("a function missing from the kernel's BTF skips fentry for kprobe, with the reason", () => {
  const f = {
    ...facts({ features: EVERYTHING_KERNEL }),
    functionInBtf: (name: string) => name !== "__x64_sys_unlinkat",
  };
  const [unlinkat, unlink] = planPolicy(policyFile("policies/file_deletion.yaml"), f).hooks;
  assert.equal(unlinkat?.mechanism, "kprobe");
  assert.match(
    unlinkat?.options[0]?.reason ?? "",
    /__x64_sys_unlinkat is not in this kernel's BTF/,
  );
  assert.equal(unlink?.mechanism, "fentry");
});

Deno.test("an LSM hook the kernel does not have is refused by name", () => {
  const f = {
    ...facts({ features: EVERYTHING_KERNEL }),
    functionInBtf: (name: string) => !name.endsWith("inode_mkdir"),
  };
  const plan = planPolicy(policyOf(lsmPolicy("Post")), f);
  assert.equal(plan.hooks[0]?.mechanism, "kprobe");
  assert.match(plan.hooks[0]?.options[0]?.reason ?? "", /no LSM hook inode_mkdir/);
});

function overridePolicy(fn: string, ret = false, syscall = false): string {
  return `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: fmod-ret-test
spec:
  kprobes:
  - call: ${fn}
    syscall: ${syscall}
${ret ? "    return: true\n    returnArg:\n      index: 0\n      type: int\n" : ""}    args:
    - index: 0
      type: int
    selectors:
    - matchBinaries:
      - operator: In
        values: ["/usr/bin/mkdir"]
      matchActions:
      - action: Override
        argError: -13
`;
}

Deno.test("fentry kernels: Override on a security_* function goes through fmod_ret", () => {
  const plan = planPolicy(
    policyOf(overridePolicy("security_inode_mkdir")),
    facts({ features: EVERYTHING_KERNEL }),
  );
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = plan.hooks[0]!;
  assert.equal(hook.mechanism, "fentry");
  assert.deepEqual(hook.attach, { kind: "fmod_ret", function: "security_inode_mkdir" });
  assert.equal(hook.selectors[0]?.actions[0]?.kind, "VIGIL_ACT_OVERRIDE");
  assert.equal(hook.selectors[0]?.actions[0]?.error, -13);
});

Deno.test("fentry kernels: Override elsewhere is refused with the reason", () => {
  const other = planPolicy(
    policyOf(overridePolicy("sys_mkdirat", false, true)),
    facts({ features: EVERYTHING_KERNEL }),
  );
  assert.equal(other.runnable, false);
  assert.match(
    other.errors[0]?.message ?? "",
    /fmod_ret only on security_\* functions.*__x64_sys_mkdirat is not/,
  );
  const ret = planPolicy(
    policyOf(overridePolicy("security_inode_mkdir", true)),
    facts({ features: EVERYTHING_KERNEL }),
  );
  assert.equal(ret.runnable, false);
  assert.match(ret.errors[0]?.message ?? "", /fmod_ret runs before the function/);
  const lsm = planPolicy(
    policyOf(lsmPolicy("Override\n        argError: -1")),
    facts({ features: NO_BPF_LSM }),
  );
  assert.equal(lsm.runnable, false);
  assert.match(
    lsm.errors[0]?.message ?? "",
    /observed only.*kprobes entry on security_inode_mkdir/,
  );
});

Deno.test("kprobe kernels: return: true with args plans a kretprobe (entry args stashed)", () => {
  const plan = planPolicy(
    policyOf(`apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: kret
spec:
  kprobes:
  - call: sys_getpgid
    syscall: true
    return: true
    args:
    - index: 0
      type: int
    returnArg:
      index: 0
      type: int
`),
    facts({ features: KPROBE_ONLY }),
  );
  assert.equal(plan.runnable, true, String(plan.reason));
  const hook = plan.hooks[0]!;
  assert.deepEqual(hook.attach, { kind: "kretprobe", function: "__x64_sys_getpgid" });
  assert.deepEqual(hook.args.map((a) => [a.role, a.ctxOffset]), [["arg", 0], ["return", 48]]);
});

function listPolicy(n: number, ret = false): string {
  const fns = ["getpgid", "getsid", "getppid", "getpgrp", "getuid", "geteuid", "getgid", "getegid"]
    .slice(0, n).map((s) => `sys_${s}`);
  return `apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: list-test
spec:
  lists:
  - name: ids
    type: syscalls
    values: [${fns.join(", ")}]
  kprobes:
  - call: "list:ids"
    syscall: true
${ret ? "    return: true\n    returnArg:\n      index: 0\n      type: int\n" : ""}`;
}

Deno.test("a kprobes list of 8 functions with kprobe_multi: one group, the reason in the plan", () => {
  const plan = planPolicy(policyOf(listPolicy(8)), facts({ features: EVERYTHING_KERNEL }));
  assert.equal(plan.runnable, true, String(plan.reason));
  assert.equal(plan.hooks.length, 8);
  const functions = plan.hooks[0]!.attach?.kind === "kprobe_multi"
    ? plan.hooks[0]!.attach.functions
    : undefined;
  assert.equal(functions?.length, 8);
  for (const h of plan.hooks) {
    assert.equal(h.mechanism, "kprobe_multi");
    // One array for the whole list: the engine attaches one link per group.
    assert.ok(h.attach?.kind === "kprobe_multi" && h.attach.functions === functions);
    assert.match(h.why, /8 functions \(>= 8\), so one kprobe_multi link/);
  }
});

Deno.test("kprobe_multi: 7 functions, a return probe, or no fprobe keep the per-function plan", () => {
  const noMulti = {
    ...EVERYTHING_KERNEL,
    kprobe_multi: { supported: false, reason: "no CONFIG_FPROBE" },
  };
  for (
    const [text, features] of [
      [listPolicy(7), EVERYTHING_KERNEL],
      [listPolicy(8, true), EVERYTHING_KERNEL],
      [listPolicy(8), noMulti],
    ] as const
  ) {
    const plan = planPolicy(policyOf(text), facts({ features }));
    assert.equal(plan.runnable, true, String(plan.reason));
    assert.ok(
      plan.hooks.every((h) => h.mechanism === "fentry"),
      plan.hooks.map((h) => h.mechanism).join(),
    );
  }
});

Deno.test("kprobe_multi: a list with an Override action keeps the per-function plan", () => {
  const text = listPolicy(8) +
    "    selectors:\n    - matchActions:\n      - action: Override\n        argError: -1\n";
  const plan = planPolicy(policyOf(text), facts({ features: EVERYTHING_KERNEL }));
  assert.equal(plan.hooks.length, 8);
  assert.ok(
    plan.hooks.every((h) => h.mechanism !== "kprobe_multi"),
    plan.hooks.map((h) => h.why).join("\n"),
  );
});
