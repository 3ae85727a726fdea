/**
 * The shape of a kernel feature report: what `vigil probe` prints and what the policy planner
 * asks ("is kprobe supported, and if not, why?").
 *
 * @module
 */

import { FEATURE_TABLE, type FeatureName } from "./features_table.ts";

export type { FeatureName } from "./features_table.ts";

/** The mechanisms and helpers vigil may use, in report order (from the feature table). */
export const FEATURE_NAMES: readonly FeatureName[] = FEATURE_TABLE.map((r) => r.name);

/**
 * Where a probe stopped. `precheck`: decided from host facts (e.g. `bpf` missing from the LSM
 * list) before or besides a load; `load`/`attach`: the step that failed; null when it succeeded.
 */
export type ProbeStage = "precheck" | "load" | "attach";

/**
 * The answer for one feature. `supported` is true (works here), false (does not, see `reason`)
 * or null (inconclusive: an unexpected failure; such answers are not cached).
 */
export interface FeatureResult {
  readonly name: FeatureName;
  readonly supported: boolean | null;
  /** The step that decided a negative or inconclusive answer; null when supported or not run. */
  readonly stage: ProbeStage | null;
  /** Positive errno of the failed step, when one failed. */
  readonly errno?: number;
  /** One actionable sentence: what failed, why, and on what evidence. */
  readonly reason: string;
  /** Last lines of the verifier log or libbpf's messages, when a step failed. */
  readonly logTail?: string;
}

/** A pseudo filesystem the probe needed, and whether it had to mount it. */
export interface ProbeMount {
  readonly fsType: "tracefs" | "securityfs";
  readonly target: string;
  /** "already": was mounted; "mounted": mounted for the probe and unmounted after; "failed". */
  readonly state: "already" | "mounted" | "failed";
  /** Why mounting failed, when it did. */
  readonly error?: string;
}

/** The LSM facts: the active list, and kernel lockdown. */
export interface LsmFacts {
  /** `/sys/kernel/security/lsm` split on commas; null when it could not be read. */
  readonly active: readonly string[] | null;
  /** Whether `bpf` is in {@link LsmFacts.active}; null when the list could not be read. */
  readonly bpfListed: boolean | null;
  /** Kernel lockdown mode ("none", "integrity", "confidentiality"); null when unknown. */
  readonly lockdown: string | null;
  /** Why the list could not be read, when it could not. */
  readonly error?: string;
}

/** The BTF the kernel exposes (required: vigil's objects are CO-RE). */
export interface BtfFacts {
  readonly path: string;
  readonly present: boolean;
  readonly readable: boolean;
  readonly sizeBytes?: number;
  readonly error?: string;
}

/** cgroup hierarchy mode, as the cgroup module decides it. */
export interface CgroupFacts {
  /** null when the inputs of the decision could not be read. */
  readonly mode: "v1" | "v2" | "hybrid" | null;
  /** One sentence an operator can check by hand. */
  readonly evidence: string;
}

/** The `kernel.bpf_stats_enabled` sysctl (per-program run time and count). */
export interface BpfStatsFacts {
  readonly path: string;
  /** null when the knob is absent or unreadable (kernels before 5.1). */
  readonly enabled: boolean | null;
  readonly detail: string;
}

/** Everything `probeKernel` found out. */
export interface KernelReport {
  /** `uname -r`. */
  readonly kernelRelease: string;
  readonly btf: BtfFacts;
  readonly cgroup: CgroupFacts;
  readonly libbpf: { readonly version: string; readonly source: "embedded" | "host" };
  readonly bpfStats: BpfStatsFacts;
  readonly lsm: LsmFacts;
  /** Where kernel config options were read from, or null when no config was found. */
  readonly kernelConfig: string | null;
  /** Pseudo filesystems the probe used. */
  readonly mounts: readonly ProbeMount[];
  /** One result per {@link FEATURE_NAMES} entry. */
  readonly features: Readonly<Record<FeatureName, FeatureResult>>;
}
