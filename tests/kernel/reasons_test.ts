import assert from "node:assert/strict";
import { explainFeature } from "../../src/kernel/reasons.ts";
import { configWith, EPERM_LOAD_TAIL, failure, fakeEvidence } from "./_fake_evidence.ts";

const ENOENT = 2;
const EPERM = 1;
const ENOMEM = 12;
const EINVAL = 22;
const EOPNOTSUPP = 95;

Deno.test("explainFeature() reports success with no stage and no errno", () => {
  const r = explainFeature("tp_btf", { ok: true }, fakeEvidence());
  assert.deepEqual(r, {
    name: "tp_btf",
    supported: true,
    stage: null,
    reason: "loaded and attached a BTF tracepoint sched_process_fork",
  });
});

Deno.test("explainFeature() blames a kernel without CONFIG_KPROBES when no kprobe path exists", () => {
  const ev = fakeEvidence({ kprobePmu: false, kprobeEvents: false, config: configWith("BPF") });
  const r = explainFeature("kprobe", failure("attach", ENOENT), ev);
  assert.equal(r.supported, false);
  assert.equal(r.stage, "attach");
  assert.equal(r.errno, ENOENT);
  assert.equal(
    r.reason,
    "attach failed: ENOENT (2); no kprobe PMU at /sys/bus/event_source/devices/kprobe and no " +
      "kprobe_events in tracefs (/sys/kernel/tracing): kernel built without CONFIG_KPROBES " +
      "(/fake/config)",
  );
});

Deno.test("explainFeature() names CONFIG_KPROBE_EVENTS when kprobes exist without events", () => {
  const ev = fakeEvidence({ kprobePmu: false, kprobeEvents: false, config: configWith("KPROBES") });
  const r = explainFeature("kprobe", failure("attach", ENOENT), ev);
  assert.match(r.reason, /without CONFIG_KPROBE_EVENTS/);
});

Deno.test("explainFeature() hedges the kprobe cause when no kernel config is available", () => {
  const ev = fakeEvidence({ kprobePmu: false, kprobeEvents: false, config: null });
  const r = explainFeature("kprobe", failure("attach", ENOENT), ev);
  assert.equal(r.supported, false);
  assert.match(r.reason, /likely built without CONFIG_KPROBES \(no config to confirm\)/);
});

Deno.test("explainFeature() says tracefs is missing when the legacy kprobe path cannot be seen", () => {
  const ev = fakeEvidence({
    kprobePmu: false,
    kprobeEvents: null,
    tracefs: {
      root: null,
      mount: {
        fsType: "tracefs",
        target: "/sys/kernel/tracing",
        state: "failed",
        error: "mount -t tracefs on /sys/kernel/tracing failed: EPERM (1)",
      },
    },
  });
  const r = explainFeature("kprobe", failure("attach", ENOENT), ev);
  assert.equal(r.supported, false);
  assert.match(r.reason, /no tracefs for the legacy kprobe_events path \(mount -t tracefs/);
});

Deno.test("explainFeature() is inconclusive on a kprobe ENOENT that nothing explains", () => {
  const r = explainFeature("kprobe", failure("attach", ENOENT), fakeEvidence());
  assert.equal(r.supported, null);
  assert.equal(r.stage, "attach");
});

Deno.test("explainFeature() explains a kprobe ENOENT by a missing symbol", () => {
  const r = explainFeature("kprobe", failure("attach", ENOENT), fakeEvidence({ symbols: [] }));
  assert.equal(r.supported, false);
  assert.match(r.reason, /do_nanosleep is not in \/proc\/kallsyms/);
});

Deno.test("explainFeature() is inconclusive on unexpected errnos", () => {
  for (const feature of ["tracepoint", "raw_tp", "fentry", "iter"] as const) {
    const r = explainFeature(feature, failure("load", ENOMEM), fakeEvidence());
    assert.equal(r.supported, null, feature);
    assert.match(r.reason, /^load failed: ENOMEM \(12\)/);
  }
});

Deno.test("explainFeature() blames CONFIG_FPROBE for kprobe_multi EOPNOTSUPP", () => {
  const ev = fakeEvidence({ config: configWith("KPROBES") });
  const r = explainFeature("kprobe_multi", failure("attach", EOPNOTSUPP), ev);
  assert.equal(r.supported, false);
  assert.equal(
    r.reason,
    "attach failed: EOPNOTSUPP (95); kernel built without CONFIG_FPROBE (/fake/config): " +
      "kprobe_multi links are built on fprobe",
  );
});

Deno.test("explainFeature() says a pre-5.18 kernel rejects the kprobe_multi link (EINVAL at attach)", () => {
  // What Debian's 5.10 answers: the program loads, the link type is unknown.
  const ev = fakeEvidence({ config: configWith("KPROBES") });
  const r = explainFeature("kprobe_multi", failure("attach", EINVAL), ev);
  assert.equal(r.supported, false);
  assert.equal(
    r.reason,
    "attach failed: EINVAL (22); the kernel rejects the kprobe_multi link type (added in 5.18); " +
      "kernel built without CONFIG_FPROBE (/fake/config): kprobe_multi links are built on fprobe",
  );
});

Deno.test("explainFeature() explains an fentry EPERM with the ftrace evidence and no ulimit red herring", () => {
  const ev = fakeEvidence({ ftraceFunctions: { ok: false, error: "EPERM (1)" } });
  const r = explainFeature("fentry", failure("load", EPERM, EPERM_LOAD_TAIL), ev);
  assert.equal(r.supported, false);
  assert.equal(r.stage, "load");
  assert.equal(r.logTail, EPERM_LOAD_TAIL);
  assert.match(r.reason, /^load refused: EPERM \(1\) before verification \(empty verifier log\)/);
  assert.match(r.reason, /'ulimit -l' hint does not apply/);
  assert.match(r.reason, /available_filter_functions: EPERM \(1\)/);
});

Deno.test("explainFeature() says capabilities are missing when vigil is not privileged", () => {
  const ev = fakeEvidence({ privileged: false });
  const r = explainFeature("fentry", failure("load", EPERM, EPERM_LOAD_TAIL), ev);
  assert.match(r.reason, /lacks CAP_BPF\/CAP_PERFMON/);
});

Deno.test("explainFeature() quotes the verifier when it refused an fentry load", () => {
  const tail = "The address of function do_nanosleep cannot be found\nprocessed 0 insns";
  const r = explainFeature("fentry", failure("load", EINVAL, tail), fakeEvidence());
  assert.equal(r.supported, false);
  assert.equal(
    r.reason,
    "load failed: EINVAL (22): The address of function do_nanosleep cannot be found",
  );
});

Deno.test("explainFeature() reports lsm listed in the lsm file yet refused", () => {
  const ev = fakeEvidence({
    lsm: {
      active: ["lockdown", "capability", "landlock", "bpf"],
      bpfListed: true,
      lockdown: "integrity",
    },
    ftraceFunctions: { ok: false, error: "EPERM (1)" },
  });
  const r = explainFeature("lsm", failure("load", EPERM, EPERM_LOAD_TAIL), ev);
  assert.equal(r.supported, false);
  assert.equal(r.stage, "load");
  assert.equal(r.errno, EPERM);
  assert.match(
    r.reason,
    /^bpf is listed in \/sys\/kernel\/security\/lsm \(lockdown,capability,landlock,bpf\), yet the kernel refused the real probe/,
  );
  assert.match(r.reason, /load refused: EPERM \(1\) before verification/);
});

Deno.test("explainFeature() rejects lsm at precheck when bpf is not listed, even if it loads", () => {
  const ev = fakeEvidence({
    lsm: { active: ["lockdown", "capability", "selinux"], bpfListed: false, lockdown: "none" },
  });
  const r = explainFeature("lsm", { ok: true }, ev);
  assert.equal(r.supported, false);
  assert.equal(r.stage, "precheck");
  assert.match(
    r.reason,
    /bpf is not listed in \/sys\/kernel\/security\/lsm \(lockdown,capability,selinux\)/,
  );
  assert.match(r.reason, /lsm= boot parameter/);
  assert.match(r.reason, /the probe loaded and attached/);
});

Deno.test("explainFeature() is inconclusive on lsm when the list cannot be read", () => {
  const ev = fakeEvidence({
    lsm: { active: null, bpfListed: null, lockdown: null, error: "mount -t securityfs failed" },
  });
  const r = explainFeature("lsm", { ok: true }, ev);
  assert.equal(r.supported, null);
  assert.equal(r.stage, "precheck");
  assert.match(r.reason, /active LSM list is unknown \(mount -t securityfs failed\)/);
});

Deno.test("explainFeature() supports lsm only when listed and loaded and attached", () => {
  const r = explainFeature("lsm", { ok: true }, fakeEvidence());
  assert.equal(r.supported, true);
  assert.equal(r.stage, null);
});

Deno.test("explainFeature() tells that tracefs had to be mounted for a classic tracepoint", () => {
  const mounted = fakeEvidence({
    tracefs: {
      root: "/sys/kernel/tracing",
      mount: { fsType: "tracefs", target: "/sys/kernel/tracing", state: "mounted" },
    },
  });
  assert.match(
    explainFeature("tracepoint", { ok: true }, mounted).reason,
    /agent must mount tracefs itself/,
  );
  assert.doesNotMatch(
    explainFeature("tracepoint", { ok: true }, fakeEvidence()).reason,
    /tracefs/,
  );
});

Deno.test("explainFeature() explains a tracepoint ENOENT by missing syscall events", () => {
  const ev = fakeEvidence({ syscallTracepoint: false, config: configWith("KPROBES") });
  const r = explainFeature("tracepoint", failure("attach", ENOENT), ev);
  assert.equal(r.supported, false);
  assert.match(r.reason, /no \/sys\/kernel\/tracing\/events\/syscalls\/sys_enter_getppid/);
  assert.match(r.reason, /without CONFIG_FTRACE_SYSCALLS/);
});

Deno.test("explainFeature() names a helper the verifier does not offer", () => {
  const tail = "0: (85) call bpf_loop#181\nunknown func bpf_loop#181\nprocessed 1 insns";
  const r = explainFeature("bpf_loop", failure("load", EINVAL, tail), fakeEvidence());
  assert.equal(r.supported, false);
  assert.equal(
    r.reason,
    "load failed: EINVAL (22): the verifier does not offer bpf_loop here (unknown func " +
      "bpf_loop#181; needs 5.17+)",
  );
});

Deno.test("explainFeature() blames CONFIG_BPF_KPROBE_OVERRIDE for override_return", () => {
  const tail = "5: (85) call bpf_override_return#58\n" +
    "program of this type cannot use helper bpf_override_return#58";
  const ev = fakeEvidence({ config: configWith("BPF") });
  const r = explainFeature("override_return", failure("load", EINVAL, tail), ev);
  assert.equal(r.supported, false);
  assert.match(r.reason, /cannot use helper bpf_override_return#58/);
  assert.match(r.reason, /without CONFIG_BPF_KPROBE_OVERRIDE/);
});

Deno.test("explainFeature() ties override_return to kprobes when its kprobe cannot attach", () => {
  const ev = fakeEvidence({ kprobePmu: false, kprobeEvents: false, config: configWith("BPF") });
  const r = explainFeature("override_return", failure("attach", ENOENT), ev);
  assert.equal(r.supported, false);
  assert.match(r.reason, /^the helper loads but its kprobe cannot attach: attach failed: ENOENT/);
  assert.match(r.reason, /CONFIG_KPROBES/);
});

Deno.test("explainFeature() recognises a ring buffer map the kernel cannot create", () => {
  const tail = "libbpf: map 'probe_rb': failed to create: Invalid argument(-22)";
  const r = explainFeature("ringbuf", failure("load", EINVAL, tail), fakeEvidence());
  assert.equal(r.supported, false);
  assert.match(r.reason, /cannot create a BPF_MAP_TYPE_RINGBUF map/);
});
