/**
 * `vigil probe`: what this kernel offers vigil, as a table or JSON. Exits 0 whenever the probe ran
 * (missing features are findings, not errors); 1 with one line when probing itself is impossible.
 *
 * @module
 */
import { openBpfRuntime } from "../bpf/runtime.ts";
import { FEATURE_NAMES, type KernelReport, probeBlocker, probeKernel } from "../kernel/mod.ts";
import type { ProbeMount } from "../kernel/types.ts";
import { createLogger } from "../log/logger.ts";
import { type Command, parseFlags, printErr, printOut } from "./command.ts";

const USAGE = `Usage: vigil probe [--json] [--host-libbpf]

Probes the running kernel: release, BTF, cgroup mode, libbpf, the bpf_stats knob, the active
LSMs, and for each mechanism vigil may use (tracepoint, raw_tp, tp_btf, kprobe, kprobe_multi,
fentry, lsm, iter) and each helper (send_signal, override_return, bpf_loop, ring buffer) whether
a real load and attach works here and, if not, why. Needs root. Mounts tracefs and securityfs for
the probe when they are absent, and unmounts them after.

Options:
  --json         print the report as one JSON object
  --host-libbpf  use the host's libbpf.so.1 instead of the embedded copy (also VIGIL_LIBBPF=host)
  -h, --help     show this help`;

// Lines of verifier/libbpf output shown under a failed row (JSON carries the whole tail).
const TAIL_LINES = 4;

/** The `probe` verb. */
export const probeCommand: Command = {
  usage: USAGE,
  run(argv) {
    const { values } = parseFlags("probe", argv, {
      json: { type: "boolean" },
      "host-libbpf": { type: "boolean" },
    });
    if (values.help) {
      printOut(USAGE);
      return Promise.resolve(0);
    }
    const blocker = probeBlocker();
    if (blocker !== null) {
      printErr(`vigil probe: ${blocker}`);
      return Promise.resolve(1);
    }
    const useHostLibbpf = values["host-libbpf"] === true ||
      Deno.env.get("VIGIL_LIBBPF") === "host";
    let report: KernelReport;
    try {
      using rt = openBpfRuntime({ useHostLibbpf, logger: createLogger({ level: "error" }) });
      report = probeKernel(rt);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      printErr(`vigil probe: ${message.split("\n")[0]}`);
      return Promise.resolve(1);
    }
    printOut(values.json ? JSON.stringify(report) : formatReport(report));
    return Promise.resolve(0);
  },
};

/** The human-readable report: host facts, then one row per feature. */
export function formatReport(report: KernelReport): string {
  const { btf, cgroup, lsm, bpfStats } = report;
  const facts: [string, string][] = [
    ["kernel", report.kernelRelease],
    [
      "btf",
      btf.readable
        ? `yes (${btf.path}, ${((btf.sizeBytes ?? 0) / 2 ** 20).toFixed(1)} MiB)`
        : `no (${btf.path}: ${btf.error ?? "unreadable"})`,
    ],
    ["cgroup", `${cgroup.mode ?? "none"} (${cgroup.evidence})`],
    ["libbpf", `${report.libbpf.version} (${report.libbpf.source})`],
    ["bpf_stats", bpfStats.detail],
    [
      "lsm",
      lsm.active === null
        ? `unknown (${lsm.error ?? "unreadable"})`
        : `${lsm.active.join(",")} (bpf ${lsm.bpfListed ? "listed" : "not listed"})`,
    ],
    ["lockdown", lsm.lockdown ?? "unknown"],
    ["kernel config", report.kernelConfig ?? "not available"],
    ...report.mounts.map((m): [string, string] => [m.fsType, describeMount(m)]),
  ];
  const rows = FEATURE_NAMES.map((name) => {
    const f = report.features[name];
    const verdict = f.supported === null ? "unknown" : f.supported ? "yes" : "no";
    return [name, verdict, f.stage ?? "-", f.reason, f.logTail ?? ""];
  });
  const width = Math.max(...facts.map(([k]) => k.length));
  const nameWidth = Math.max(...FEATURE_NAMES.map((n) => n.length));
  const lines = facts.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  lines.push("", `${"feature".padEnd(nameWidth)}  supported  stage      reason`);
  for (const [name, verdict, stage, reason, tail] of rows) {
    lines.push(`${name!.padEnd(nameWidth)}  ${verdict!.padEnd(9)}  ${stage!.padEnd(9)}  ${reason}`);
    // The last words of the verifier or libbpf, indented under the row they explain.
    for (const line of tail!.split("\n").filter((l) => l !== "").slice(-TAIL_LINES)) {
      lines.push(`${" ".repeat(nameWidth + 2)}| ${line}`);
    }
  }
  return lines.join("\n");
}

function describeMount(m: ProbeMount): string {
  switch (m.state) {
    case "already":
      return `already mounted at ${m.target}`;
    case "mounted":
      return `mounted at ${m.target} for the probe, unmounted after`;
    case "failed":
      return `not available (${m.error ?? "mount failed"})`;
  }
}
