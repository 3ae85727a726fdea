/**
 * Kernel feature probes: for each mechanism and helper vigil may use, a real load and attach of
 * a tiny program, explained with independent evidence when it fails. Definite answers (supported
 * or not) are memoised per process and per libbpf; inconclusive ones are asked again next time.
 *
 * @example
 * ```ts
 * using rt = openBpfRuntime({ useHostLibbpf: false, logger });
 * const { features } = probeKernel(rt);
 * if (!features.kprobe.supported) logger.warn("no kprobes", { reason: features.kprobe.reason });
 * ```
 *
 * @module
 */
import { PROBE_OBJECT } from "../bpf/objects.ts";
import type { BpfRuntime } from "../bpf/runtime.ts";
import {
  DEBUGFS_TRACING,
  exists,
  kallsymsLookup,
  KPROBE_PMU,
  type ProbeEvidence,
  readTracefsFacts,
} from "./evidence.ts";
import { readBpfStats, readBtfFacts, readCgroupFacts } from "./host.ts";
import { readKernelConfig } from "./kconfig.ts";
import { readLsmFacts } from "./lsm.ts";
import { TRACEFS, withPseudoFs } from "./mounts.ts";
import { isPrivileged } from "./preflight.ts";
import { PROBE_SPECS, type ProbeSpec } from "./probes.ts";
import { explainFeature, type StepOutcome } from "./reasons.ts";
import { type ProbeLinger, runProbe } from "./runner.ts";
import {
  FEATURE_NAMES,
  type FeatureName,
  type FeatureResult,
  type KernelReport,
  type ProbeMount,
} from "./types.ts";

/** The evidence of one probing session, and the pseudo filesystems it used. */
export interface ProbeSession {
  readonly evidence: ProbeEvidence;
  readonly mounts: readonly ProbeMount[];
  /** Where the kernel config came from, or null. */
  readonly kernelConfig: string | null;
}

/** Runs `fn` inside a probing session (mounts held for its duration). */
export type SessionGatherer = <T>(rt: BpfRuntime, fn: (session: ProbeSession) => T) => T;

/** Runs one probe program; the default loads probe.bpf.o for real. */
export type ProbeRunner = (rt: BpfRuntime, spec: ProbeSpec, linger?: ProbeLinger) => StepOutcome;

/** Options of {@link createKernelProber}; tests replace the kernel-facing parts. */
export interface KernelProberOptions {
  readonly runProbe?: ProbeRunner;
  readonly gather?: SessionGatherer;
}

/** Probes the kernel, remembering definite answers. */
export interface KernelProber {
  /**
   * Probes what is not known yet and returns the full report; with `linger`, successful probes'
   * attached links are handed to it instead of being detached now (see {@link ProbeLinger}).
   */
  probe(rt: BpfRuntime, linger?: ProbeLinger): KernelReport;
}

/**
 * A prober with its own memo. Use {@link probeKernel} in the agent; this is for tests and for
 * callers that want a fresh answer.
 */
export function createKernelProber(options: KernelProberOptions = {}): KernelProber {
  const run = options.runProbe ??
    ((rt, spec, linger) => runProbe(rt, PROBE_OBJECT, spec, linger));
  const gather = options.gather ?? liveSession;
  // Keyed by libbpf: attach paths (e.g. legacy kprobes, kprobe.multi) differ between versions.
  const memo = new Map<string, Map<FeatureName, FeatureResult>>();
  return {
    probe(rt, linger) {
      const key = `${rt.libbpfSource}:${rt.libbpfVersion}`;
      const known = memo.get(key) ?? new Map<FeatureName, FeatureResult>();
      memo.set(key, known);
      return gather(rt, (session) => {
        const features = probeFeatures(
          rt,
          session.evidence,
          known,
          (rt, spec) => run(rt, spec, linger),
        );
        for (const result of Object.values(features)) {
          if (result.supported !== null) known.set(result.name, result);
        }
        return {
          kernelRelease: Deno.osRelease(),
          btf: readBtfFacts(),
          cgroup: readCgroupFacts(),
          libbpf: { version: rt.libbpfVersion, source: rt.libbpfSource },
          bpfStats: readBpfStats(),
          lsm: session.evidence.lsm,
          kernelConfig: session.kernelConfig,
          mounts: session.mounts,
          features,
        };
      });
    },
  };
}

function probeFeatures(
  rt: BpfRuntime,
  evidence: ProbeEvidence,
  known: ReadonlyMap<FeatureName, FeatureResult>,
  run: ProbeRunner,
): Record<FeatureName, FeatureResult> {
  const results = new Map<FeatureName, FeatureResult>();
  for (const spec of PROBE_SPECS) {
    const cached = known.get(spec.feature);
    if (cached) {
      results.set(spec.feature, cached);
      continue;
    }
    const ringbuf = results.get("ringbuf");
    if (spec.feature !== "ringbuf" && ringbuf?.supported === false && ringbuf.stage === "load") {
      results.set(spec.feature, {
        name: spec.feature,
        supported: null,
        stage: null,
        reason: "not probed: every probe load creates the object's ring buffer map, and that " +
          `failed (${ringbuf.reason})`,
      });
      continue;
    }
    results.set(spec.feature, explainFeature(spec.feature, run(rt, spec), evidence));
  }
  // Report order is FEATURE_NAMES order, whatever order the probes ran in.
  return Object.fromEntries(
    [...results].sort(([a], [b]) => FEATURE_NAMES.indexOf(a) - FEATURE_NAMES.indexOf(b)),
  ) as Record<FeatureName, FeatureResult>;
}

/**
 * The live session: reads the LSM list (securityfs mounted only for the read), then holds tracefs
 * where libbpf looks for it while the probes run, and unmounts what it mounted.
 */
function liveSession<T>(rt: BpfRuntime, fn: (session: ProbeSession) => T): T {
  const { lsm, mount: securityfs } = readLsmFacts(rt.libc);
  const config = readKernelConfig();
  const base = {
    config,
    privileged: isPrivileged(),
    kprobePmu: exists(KPROBE_PMU),
    lsm,
    kernelSymbol: kallsymsLookup(),
  };
  const inSession = (root: string | null, tracefs: ProbeMount) =>
    fn({
      evidence: { ...base, tracefs: { root, mount: tracefs }, ...readTracefsFacts(root) },
      mounts: [securityfs, tracefs],
      kernelConfig: config?.source ?? null,
    });
  // libbpf uses debugfs's tracing directory whenever it exists, tracefs's own mount otherwise.
  if (exists(DEBUGFS_TRACING)) {
    return inSession(DEBUGFS_TRACING, { ...TRACEFS, target: DEBUGFS_TRACING, state: "already" });
  }
  return withPseudoFs(
    rt.libc,
    TRACEFS,
    (mount) => inSession(mount.state === "failed" ? null : TRACEFS.target, mount),
  );
}

let processProber: KernelProber | undefined;

/**
 * Probes the running kernel through `rt`: kernel release, BTF, cgroup mode, libbpf, bpf_stats,
 * LSM list and one {@link FeatureResult} per mechanism. Kernel features do not change while the
 * kernel runs, so definite answers are kept for the life of the process (one memo per process is
 * deliberate here); inconclusive ones are probed again on the next call.
 */
export function probeKernel(rt: BpfRuntime, linger?: ProbeLinger): KernelReport {
  processProber ??= createKernelProber();
  return processProber.probe(rt, linger);
}
