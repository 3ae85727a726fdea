/**
 * probeKernel() on the real kernel. Nothing here is hard-coded to one machine: each verdict is
 * checked against evidence the test gathers itself (sysfs, tracefs, securityfs, the kernel config,
 * and its own load and attach of the same program), so the test holds on a kernel where kprobes,
 * fentry or BPF LSM work as well as on one where they do not. Needs root and a built probe.bpf.o.
 */
import assert from "node:assert/strict";
import { BpfError } from "../../src/bpf/errors.ts";
import { BpfObject } from "../../src/bpf/object.ts";
import { PROBE_OBJECT } from "../../src/bpf/objects.ts";
import { openBpfRuntime } from "../../src/bpf/runtime.ts";
import type { BpfRuntime } from "../../src/bpf/runtime.ts";
import { readKernelConfig } from "../../src/kernel/kconfig.ts";
import { probeKernel } from "../../src/kernel/mod.ts";
import { PROBE_PROGRAMS } from "../../src/kernel/probes.ts";
import { FEATURE_NAMES, type KernelReport } from "../../src/kernel/types.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { requires } from "../_helpers/requires.ts";

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function run(cmd: string, ...args: string[]): void {
  const out = new Deno.Command(cmd, { args, stderr: "piped" }).outputSync();
  assert.ok(out.success, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

function mountedAt(target: string, fsType: string): boolean {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .some((line) => line.split(" ")[4] === target && line.includes(` - ${fsType} `));
}

/** Runs `fn` with `fsType` at `target`, mounting it with mount(8) when absent. */
function withMount<T>(fsType: string, target: string, fn: () => T): T {
  if (mountedAt(target, fsType)) return fn();
  run("mount", "-t", fsType, fsType, target);
  try {
    return fn();
  } finally {
    run("umount", target);
  }
}

function sysKernelMounts(): string {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .filter((line) => line.split(" ")[4]?.startsWith("/sys/kernel/")).sort().join("\n");
}

/** What the test sees for itself. */
interface Observed {
  kprobePmu: boolean;
  kprobeEvents: boolean;
  syscallTracepoint: boolean;
  lsmList: string[];
  tracefsWasMounted: boolean;
}

function observe(): Observed {
  const debugfsTracing = exists("/sys/kernel/debug/tracing");
  const root = debugfsTracing ? "/sys/kernel/debug/tracing" : "/sys/kernel/tracing";
  const tracefsWasMounted = debugfsTracing || mountedAt(root, "tracefs");
  const tracefs = withMount("tracefs", "/sys/kernel/tracing", () => ({
    kprobeEvents: exists(`${root}/kprobe_events`),
    syscallTracepoint: exists(`${root}/events/syscalls/sys_enter_getppid`),
  }));
  const lsmList = withMount(
    "securityfs",
    "/sys/kernel/security",
    () => Deno.readTextFileSync("/sys/kernel/security/lsm").trim().split(","),
  );
  return {
    kprobePmu: exists("/sys/bus/event_source/devices/kprobe"),
    ...tracefs,
    lsmList,
    tracefsWasMounted,
  };
}

/** The test's own load + attach of one probe program (not through the prober). */
function loadAndAttach(rt: BpfRuntime, program: string): { ok: boolean; errno?: number } {
  const autoload = Object.fromEntries(PROBE_PROGRAMS.map((p) => [p, p === program]));
  try {
    using obj = BpfObject.load(rt, PROBE_OBJECT, { name: "probe.bpf.o", autoload });
    obj.attach(program).close();
    return { ok: true };
  } catch (err) {
    if (err instanceof BpfError) return { ok: false, errno: err.errno };
    throw err;
  }
}

function kernelAtLeast(major: number, minor: number): boolean {
  const [maj = 0, min = 0] = Deno.osRelease().split(/[.-]/).map(Number);
  return maj > major || (maj === major && min >= minor);
}

Deno.test(requires("probe.bpf.o holds exactly the programs of the probe table", "root"), () => {
  using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
  const autoload = Object.fromEntries(PROBE_PROGRAMS.map((p) => [p, false]));
  using obj = BpfObject.load(rt, PROBE_OBJECT, { name: "probe.bpf.o", autoload });
  assert.deepEqual(obj.programNames().sort(), [...PROBE_PROGRAMS].sort());
});

Deno.test(
  requires("probeKernel() agrees with independent evidence on this kernel", "root"),
  async (t) => {
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    const seen = observe();
    const config = readKernelConfig();
    const mountsBefore = sysKernelMounts();
    const report: KernelReport = probeKernel(rt);
    const f = report.features;

    await t.step("leaves the mount table as it was", () => {
      assert.equal(sysKernelMounts(), mountsBefore);
    });

    await t.step("host facts", () => {
      assert.equal(report.kernelRelease, Deno.osRelease());
      assert.equal(report.btf.readable, true);
      assert.equal(report.libbpf.source, "embedded");
      assert.match(report.libbpf.version, /^\d+\.\d+$/);
      assert.deepEqual(report.lsm.active, seen.lsmList);
      assert.equal(report.lsm.bpfListed, seen.lsmList.includes("bpf"));
      assert.notEqual(report.cgroup.mode, null);
      assert.equal(
        report.bpfStats.enabled,
        Deno.readTextFileSync(report.bpfStats.path).trim() === "1",
      );
    });

    await t.step("every verdict is conclusive and consistent with its stage", () => {
      assert.deepEqual(Object.keys(f), [...FEATURE_NAMES]);
      for (const r of Object.values(f)) {
        assert.notEqual(r.supported, null, `${r.name}: ${r.reason}`);
        assert.equal(r.stage === null, r.supported === true, r.name);
        assert.ok(r.reason.length > 0, r.name);
      }
    });

    await t.step(
      "vigil's floor (5.8, BTF): ringbuf, raw_tp, tp_btf, iter, send_signal work",
      () => {
        for (const name of ["ringbuf", "raw_tp", "tp_btf", "iter", "send_signal"] as const) {
          assert.equal(f[name].supported, true, `${name}: ${f[name].reason}`);
        }
        assert.equal(f.bpf_loop.supported, kernelAtLeast(5, 17), f.bpf_loop.reason);
      },
    );

    await t.step("tracepoint works iff tracefs has the syscall event", () => {
      assert.equal(f.tracepoint.supported, seen.syscallTracepoint, f.tracepoint.reason);
      if (f.tracepoint.supported && !seen.tracefsWasMounted) {
        assert.match(f.tracepoint.reason, /agent must mount tracefs/);
      }
    });

    await t.step("kprobe works iff a kprobe PMU or tracefs kprobe_events exists", () => {
      assert.equal(f.kprobe.supported, seen.kprobePmu || seen.kprobeEvents, f.kprobe.reason);
      if (!f.kprobe.supported) {
        assert.equal(f.kprobe.stage, "attach");
        assert.match(f.kprobe.reason, /^attach failed: E[A-Z]+ \(\d+\); /);
        assert.match(f.kprobe.reason, /no kprobe PMU at \/sys\/bus\/event_source\/devices\/kprobe/);
        assert.match(f.kprobe.reason, /kprobe_events/);
        if (config && !config.enabled("KPROBES")) {
          assert.match(f.kprobe.reason, /kernel built without CONFIG_KPROBES/);
        }
      }
    });

    await t.step("kprobe_multi: a kernel without CONFIG_FPROBE is named as the reason", () => {
      if (config && !config.enabled("FPROBE")) {
        assert.equal(f.kprobe_multi.supported, false);
        assert.match(f.kprobe_multi.reason, /kernel built without CONFIG_FPROBE/);
      }
      if (f.kprobe_multi.supported && config) assert.equal(config.enabled("FPROBE"), true);
    });

    await t.step("fentry works iff the test's own load and attach works", () => {
      const own = loadAndAttach(rt, "probe_fentry");
      assert.equal(f.fentry.supported, own.ok, f.fentry.reason);
      if (!own.ok) {
        assert.equal(f.fentry.errno, own.errno);
        if (own.errno === 1) {
          assert.match(f.fentry.reason, /^load refused: EPERM \(1\)/);
          assert.match(f.fentry.reason, /'ulimit -l' hint does not apply/);
        }
      }
    });

    await t.step("lsm works iff bpf is listed AND the test's own load and attach works", () => {
      const listed = seen.lsmList.includes("bpf");
      const own = loadAndAttach(rt, "probe_lsm");
      assert.equal(f.lsm.supported, listed && own.ok, f.lsm.reason);
      if (!listed) {
        assert.equal(f.lsm.stage, "precheck");
        assert.match(f.lsm.reason, /bpf is not listed in \/sys\/kernel\/security\/lsm/);
      } else if (!own.ok) {
        assert.equal(f.lsm.errno, own.errno);
        assert.match(f.lsm.reason, /^bpf is listed in \/sys\/kernel\/security\/lsm \(/);
        if (own.errno === 1) {
          assert.match(f.lsm.reason, /yet the kernel refused the real probe/);
          assert.match(f.lsm.reason, /load refused: EPERM \(1\)/);
        }
      }
    });

    await t.step("override_return needs kprobes and CONFIG_BPF_KPROBE_OVERRIDE", () => {
      if (f.override_return.supported) assert.equal(f.kprobe.supported, true);
      if (config && !config.enabled("BPF_KPROBE_OVERRIDE")) {
        assert.equal(f.override_return.supported, false);
        assert.match(f.override_return.reason, /CONFIG_BPF_KPROBE_OVERRIDE/);
      }
    });

    await t.step("a second call answers from the memo", () => {
      const again = probeKernel(rt);
      for (const name of FEATURE_NAMES) assert.equal(again.features[name], f[name], name);
      assert.equal(sysKernelMounts(), mountsBefore);
    });
  },
);
