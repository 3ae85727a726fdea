/**
 * Fake kernels for the reason builder: evidence built from plain data, defaulting to a host
 * where everything is present, so each test states only what differs.
 *
 * @module
 */
import type { ProbeEvidence } from "../../src/kernel/evidence.ts";
import { parseKernelConfig } from "../../src/kernel/kconfig.ts";
import type { StepFailure } from "../../src/kernel/reasons.ts";

/** A kernel config with exactly these options set to y. */
export function configWith(...options: string[]): ProbeEvidence["config"] {
  return parseKernelConfig(options.map((o) => `CONFIG_${o}=y`).join("\n"), "/fake/config");
}

const FULL_CONFIG = [
  "KPROBES",
  "KPROBE_EVENTS",
  "FPROBE",
  "BPF_LSM",
  "BPF_KPROBE_OVERRIDE",
  "FTRACE_SYSCALLS",
  "DYNAMIC_FTRACE_WITH_DIRECT_CALLS",
];

/** Evidence of a fully featured kernel, with `overrides` applied. */
export function fakeEvidence(
  overrides: Partial<Omit<ProbeEvidence, "kernelSymbol">> & { symbols?: string[] | null } = {},
): ProbeEvidence {
  const { symbols, ...rest } = overrides;
  const known = symbols === undefined ? ["do_nanosleep"] : symbols;
  return {
    config: configWith(...FULL_CONFIG),
    privileged: true,
    kprobePmu: true,
    tracefs: {
      root: "/sys/kernel/tracing",
      mount: { fsType: "tracefs", target: "/sys/kernel/tracing", state: "already" },
    },
    kprobeEvents: true,
    syscallTracepoint: true,
    ftraceFunctions: { ok: true },
    lsm: { active: ["lockdown", "capability", "bpf"], bpfListed: true, lockdown: "none" },
    kernelSymbol: (name) => known === null ? null : known.includes(name),
    ...rest,
  };
}

/** A failed step. */
export function failure(stage: "load" | "attach", errno: number, logTail = ""): StepFailure {
  return { ok: false, stage, errno, logTail };
}

/** libbpf's messages when the kernel refuses a load before verifying it. */
export const EPERM_LOAD_TAIL = [
  "libbpf: prog 'probe_fentry': BPF program load failed: Operation not permitted",
  "libbpf: permission error while running as root; try raising 'ulimit -l'? current value: 8.0 MiB",
  "libbpf: prog 'probe_fentry': failed to load: -1",
].join("\n");
