/**
 * What the running kernel offers vigil: {@link probeKernel} answers, per mechanism, whether a real
 * load and attach works here and, if not, precisely why. The policy planner asks it before it
 * picks hooks; `vigil probe` prints it.
 *
 * @example
 * ```ts
 * const report = probeKernel(rt);
 * const { supported, reason } = report.features.kprobe; // false, "attach failed: ENOENT (2); ..."
 * ```
 *
 * @module
 */
export { createKernelProber, type KernelProber, probeKernel } from "./features.ts";
export { probeBlocker } from "./preflight.ts";
export type { ProbeLinger } from "./runner.ts";
export {
  type BpfStatsFacts,
  type BtfFacts,
  type CgroupFacts,
  FEATURE_NAMES,
  type FeatureName,
  type FeatureResult,
  type KernelReport,
  type LsmFacts,
  type ProbeMount,
  type ProbeStage,
} from "./types.ts";
