/**
 * Host facts of the kernel report that need no BPF: BTF, the bpf_stats knob, the cgroup mode.
 *
 * @module
 */
import { osError } from "./evidence.ts";
import {
  detectCgroupMode,
  parseMountinfo,
  parseProcCgroups,
  parseTaskCgroups,
  readInputFile,
} from "../cgroup/mod.ts";
import type { BpfStatsFacts, BtfFacts, CgroupFacts } from "./types.ts";

/** The kernel's own BTF (CONFIG_DEBUG_INFO_BTF). */
export const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";
/** The sysctl that turns on per-program run time and count. */
export const BPF_STATS_KNOB = "/proc/sys/kernel/bpf_stats_enabled";

/** Whether the kernel's BTF is there and readable (a 1-byte read, not the whole file). */
export function readBtfFacts(path = VMLINUX_BTF): BtfFacts {
  let size: number;
  try {
    size = Deno.statSync(path).size;
  } catch (err) {
    return { path, present: false, readable: false, error: osError(err) };
  }
  try {
    using file = Deno.openSync(path);
    file.readSync(new Uint8Array(1));
    return { path, present: true, readable: true, sizeBytes: size };
  } catch (err) {
    return { path, present: true, readable: false, sizeBytes: size, error: osError(err) };
  }
}

/** The `kernel.bpf_stats_enabled` value. */
export function readBpfStats(path = BPF_STATS_KNOB): BpfStatsFacts {
  try {
    const value = Deno.readTextFileSync(path).trim();
    const enabled = value === "1";
    return {
      path,
      enabled,
      detail: enabled
        ? "on: the kernel counts run time and runs of every BPF program"
        : "off: per-program run time and counts are not collected (BPF_ENABLE_STATS can turn " +
          "them on for vigil's lifetime)",
    };
  } catch (err) {
    return { path, enabled: null, detail: `cannot read ${path}: ${osError(err)} (needs 5.1+)` };
  }
}

/**
 * The cgroup mode (v1, v2 or hybrid) as the cgroup module decides it, from this process's
 * mountinfo, `/proc/cgroups` and `/proc/self/cgroup`; mode null when those cannot be read.
 */
export function readCgroupFacts(): CgroupFacts {
  try {
    const { mode, evidence } = detectCgroupMode({
      mounts: readInputFile("/proc/self/mountinfo", parseMountinfo),
      subsystems: readInputFile("/proc/cgroups", parseProcCgroups),
      taskCgroups: readInputFile("/proc/self/cgroup", parseTaskCgroups),
    });
    return { mode, evidence };
  } catch (err) {
    return { mode: null, evidence: err instanceof Error ? err.message : String(err) };
  }
}
