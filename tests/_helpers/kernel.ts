/**
 * What the running kernel allows, for tests that assert per kernel: one real probe per test
 * process (the same `probeKernel` the agent runs), taken on first use. Needs root.
 *
 * @module
 */
import { openBpfRuntime } from "../../src/bpf/runtime.ts";
import { probeKernel } from "../../src/kernel/mod.ts";
import type { FeatureName, KernelReport } from "../../src/kernel/types.ts";
import { silentLogger } from "../../src/log/logger.ts";

let report: KernelReport | undefined;

/** The probe's report for this kernel (probed once per process). */
export function kernelReport(): KernelReport {
  if (report === undefined) {
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    report = probeKernel(rt);
  }
  return report;
}

/** Whether the probe says `feature` works on this kernel. */
export function kernelSupports(feature: FeatureName): boolean {
  return kernelReport().features[feature].supported === true;
}
