/**
 * Turns a probe's load/attach outcome plus independent evidence into a verdict and one actionable
 * sentence. Pure: every input is data, so each explanation is unit-tested with fake kernels.
 *
 * Three outcomes: supported (the step succeeded); not supported (a failure the kernel gives for a
 * missing or refused feature, or one the evidence explains); inconclusive (anything else, e.g.
 * ENOMEM or an ENOENT nothing explains), which callers must not cache.
 *
 * @module
 */
import { errnoName } from "../ffi/libc.ts";
import type { ProbeEvidence } from "./evidence.ts";
import { KPROBE_PMU } from "./evidence.ts";
import { LSM_LIST } from "./lsm.ts";
import { OVERRIDE_TARGET } from "./probes.ts";
import type { FeatureName, FeatureResult } from "./types.ts";

/** What loading (and attaching) one probe program did. */
export type StepOutcome =
  | { readonly ok: true }
  | StepFailure;

/** A failed load or attach. */
export interface StepFailure {
  readonly ok: false;
  readonly stage: "load" | "attach";
  /** Positive errno. */
  readonly errno: number;
  /** Verifier log tail, or libbpf's messages (prefixed "libbpf:"). */
  readonly logTail: string;
}

const EPERM = 1;
const ENOENT = 2;
const E2BIG = 7;
const EACCES = 13;
const EINVAL = 22;
const ENOSYS = 38;
const EOPNOTSUPP = 95;
const ENOTSUPP = 524;

// Errnos that mean "this kernel does not offer or allows not this", whatever the evidence.
const DEFINITE = new Set([EPERM, EACCES, EINVAL, E2BIG, ENOSYS, EOPNOTSUPP, ENOTSUPP]);

/** Where each probe program hooks, for the sentences. */
const TARGETS: Readonly<Record<FeatureName, string>> = {
  tracepoint: "tracepoint syscalls/sys_enter_getppid",
  raw_tp: "raw tracepoint sys_enter",
  tp_btf: "BTF tracepoint sched_process_fork",
  kprobe: "kprobe on do_nanosleep",
  kprobe_multi: "kprobe_multi link on do_nanosleep",
  fentry: "fentry on do_nanosleep",
  lsm: "BPF LSM hook file_open",
  iter: "task iterator",
  send_signal: "bpf_send_signal#109 in a tracepoint program",
  override_return: "bpf_override_return#58 in a kprobe program",
  bpf_loop: "bpf_loop#181 in a tracepoint program",
  ringbuf: "BPF_MAP_TYPE_RINGBUF map used by a tracepoint program",
};

/**
 * The verdict for one feature.
 *
 * @example
 * ```ts
 * const r = explainFeature("kprobe", { ok: false, stage: "attach", errno: 2, logTail: "" }, evidence);
 * r.supported; // false when neither a kprobe PMU nor tracefs kprobe_events exists
 * ```
 */
export function explainFeature(
  name: FeatureName,
  outcome: StepOutcome,
  evidence: ProbeEvidence,
): FeatureResult {
  if (name === "lsm") return explainLsm(outcome, evidence);
  if (outcome.ok) return { name, supported: true, stage: null, reason: succeeded(name, evidence) };
  const specific = SPECIFIC[name]?.(outcome, evidence);
  const supported = specific?.supported ?? (DEFINITE.has(outcome.errno) ? false : null);
  const reason = specific?.reason ?? genericReason(outcome, evidence);
  return failure(name, supported, outcome, reason);
}

type Explainer = (
  o: StepFailure,
  ev: ProbeEvidence,
) => { supported: boolean | null; reason: string } | undefined;

const SPECIFIC: Partial<Record<FeatureName, Explainer>> = {
  tracepoint: explainTracepoint,
  kprobe: explainKprobe,
  kprobe_multi: explainKprobeMulti,
  fentry: explainTrampoline,
  send_signal: (o) => explainHelper(o, "bpf_send_signal", "5.3"),
  bpf_loop: (o) => explainHelper(o, "bpf_loop", "5.17"),
  override_return: explainOverride,
  ringbuf: explainRingbuf,
};

function succeeded(name: FeatureName, ev: ProbeEvidence): string {
  switch (name) {
    case "send_signal":
    case "bpf_loop":
      return `the verifier accepts ${TARGETS[name]} (load only: never attached)`;
    case "ringbuf":
      return `created a ${TARGETS.ringbuf} (load only)`;
    case "override_return":
      return `${TARGETS.override_return} loads and attaches to ${OVERRIDE_TARGET}`;
    case "iter":
      return "loaded, attached and read a task iterator";
    case "tracepoint":
      return `loaded and attached a ${TARGETS.tracepoint}${tracefsNote(ev)}`;
    default:
      return `loaded and attached a ${TARGETS[name]}`;
  }
}

function tracefsNote(ev: ProbeEvidence): string {
  const { mount } = ev.tracefs;
  if (mount.state !== "mounted") return "";
  return `; tracefs was not mounted: the probe mounted it at ${mount.target} and unmounted it ` +
    "after, so the agent must mount tracefs itself to attach classic tracepoints";
}

function failure(
  name: FeatureName,
  supported: boolean | null,
  o: StepFailure,
  reason: string,
): FeatureResult {
  return {
    name,
    supported,
    stage: o.stage,
    errno: o.errno,
    reason,
    ...(o.logTail ? { logTail: o.logTail } : {}),
  };
}

/** "attach failed: ENOENT (2)", or "load refused: EPERM (1)" for permission errors. */
function failed(o: StepFailure): string {
  const verb = o.errno === EPERM || o.errno === EACCES ? "refused" : "failed";
  return `${o.stage} ${verb}: ${errnoName(o.errno)}`;
}

/** The verifier's own lines (libbpf prefixes its messages with "libbpf:"). */
function verifierLines(logTail: string): string[] {
  return logTail.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("libbpf:"));
}

/** The most telling line: the verifier's last word, else libbpf's first failure message. */
function keyLine(o: StepFailure): string | undefined {
  const verifier = verifierLines(o.logTail).filter((l) => !/^processed \d+ insns/.test(l));
  if (verifier.length > 0) return verifier[verifier.length - 1];
  const libbpf = o.logTail.split("\n").find((l) => /failed|error/i.test(l));
  return libbpf?.replace(/^libbpf: /, "");
}

function genericReason(o: StepFailure, ev: ProbeEvidence): string {
  if (o.errno === EPERM || o.errno === EACCES) return refused(o, ev);
  const key = keyLine(o);
  return key ? `${failed(o)}: ${key}` : failed(o);
}

/** A permission refusal, with what rules out the usual suspects and what the kernel shows. */
function refused(o: StepFailure, ev: ProbeEvidence): string {
  const parts = [failed(o)];
  const verifier = verifierLines(o.logTail);
  if (o.stage === "load" && verifier.length === 0) {
    parts[0] += " before verification (empty verifier log)";
  } else if (verifier.length > 0) {
    parts[0] += `: ${verifier[verifier.length - 1]}`;
  }
  if (ev.privileged) {
    parts.push(
      "vigil holds BPF privileges (CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN), so this is the " +
        "kernel's policy, not missing capabilities (libbpf's 'ulimit -l' hint does not apply: " +
        "other programs load)",
    );
  } else {
    parts.push("vigil lacks CAP_BPF/CAP_PERFMON (or CAP_SYS_ADMIN): run as root");
  }
  return parts.join("; ");
}

function ftraceNote(ev: ProbeEvidence): string | undefined {
  const access = ev.ftraceFunctions;
  if (access === null || access.ok) return undefined;
  return `the kernel also refuses ftrace function hooks (opening ${ev.tracefs.root}/` +
    `available_filter_functions: ${access.error}), which BPF trampolines (fentry, fexit, lsm) ` +
    "are built on";
}

function lockdownNote(ev: ProbeEvidence): string | undefined {
  // Only 'confidentiality' restricts tracing (kprobes, kernel reads); 'integrity' does not.
  return ev.lsm.lockdown === "confidentiality" ? "kernel lockdown is 'confidentiality'" : undefined;
}

function notBuilt(ev: ProbeEvidence, option: string, why: string): string | undefined {
  if (ev.config === null || ev.config.enabled(option)) return undefined;
  return `kernel built without CONFIG_${option} (${ev.config.source})${why ? `: ${why}` : ""}`;
}

function join(...parts: (string | undefined)[]): string {
  return parts.filter((p): p is string => p !== undefined && p !== "").join("; ");
}

function explainTracepoint(o: StepFailure, ev: ProbeEvidence) {
  if (o.stage !== "attach" || o.errno !== ENOENT) return undefined;
  const { root, mount } = ev.tracefs;
  if (root === null) {
    return {
      supported: false,
      reason: join(
        failed(o),
        `no tracefs (${mount.error ?? "not mounted"}): libbpf reads tracepoint ids from tracefs`,
      ),
    };
  }
  if (ev.syscallTracepoint === false) {
    return {
      supported: false,
      reason: join(
        failed(o),
        `no ${root}/events/syscalls/sys_enter_getppid`,
        notBuilt(ev, "FTRACE_SYSCALLS", "no syscall tracepoints"),
      ),
    };
  }
  return undefined;
}

/** Why no kprobe can be created, when the evidence says so; undefined when it could be. */
function kprobeAbsence(ev: ProbeEvidence): string | undefined {
  if (ev.kprobePmu || ev.kprobeEvents === true) return undefined;
  const legacy = ev.kprobeEvents === false
    ? `no kprobe_events in tracefs (${ev.tracefs.root})`
    : `no tracefs for the legacy kprobe_events path (${ev.tracefs.mount.error ?? "not mounted"})`;
  const cause = notBuilt(ev, "KPROBES", "") ?? notBuilt(ev, "KPROBE_EVENTS", "") ??
    (ev.config === null ? "kernel likely built without CONFIG_KPROBES (no config to confirm)" : "");
  return `no kprobe PMU at ${KPROBE_PMU} and ${legacy}${cause ? `: ${cause}` : ""}`;
}

function explainKprobe(o: StepFailure, ev: ProbeEvidence) {
  if (o.stage !== "attach") return undefined;
  const absence = kprobeAbsence(ev);
  if (absence) return { supported: false, reason: join(failed(o), absence) };
  if (o.errno === ENOENT && ev.kernelSymbol("do_nanosleep") === false) {
    return { supported: false, reason: join(failed(o), "do_nanosleep is not in /proc/kallsyms") };
  }
  if (o.errno === EPERM && ev.lsm.lockdown === "confidentiality") {
    return {
      supported: false,
      reason: join(failed(o), "kernel lockdown 'confidentiality' forbids kprobes"),
    };
  }
  return undefined;
}

function explainKprobeMulti(o: StepFailure, ev: ProbeEvidence) {
  if (o.stage === "load" && o.errno === EINVAL) {
    return {
      supported: false,
      reason: join(
        genericReason(o, ev),
        "the kernel rejects the kprobe_multi attach type (added in 5.18)",
      ),
    };
  }
  if (o.stage !== "attach") return undefined;
  if (o.errno === EOPNOTSUPP || o.errno === ENOTSUPP) {
    return {
      supported: false,
      reason: join(
        failed(o),
        notBuilt(ev, "FPROBE", "kprobe_multi links are built on fprobe") ??
          "the kernel has no kprobe_multi links (needs CONFIG_FPROBE, 5.18+)",
      ),
    };
  }
  if (o.errno === EINVAL) {
    // Before 5.18 the kernel does not know the link type at all (seen on Debian's 5.10).
    return {
      supported: false,
      reason: join(
        failed(o),
        "the kernel rejects the kprobe_multi link type (added in 5.18)",
        notBuilt(ev, "FPROBE", "kprobe_multi links are built on fprobe"),
      ),
    };
  }
  return undefined;
}

/** fentry (and, through {@link explainLsm}, lsm): both need a BPF trampoline. */
function explainTrampoline(o: StepFailure, ev: ProbeEvidence) {
  if (o.errno === EPERM || o.errno === EACCES) {
    return { supported: false, reason: join(refused(o, ev), ftraceNote(ev), lockdownNote(ev)) };
  }
  if (o.stage === "attach" && (o.errno === EOPNOTSUPP || o.errno === ENOTSUPP)) {
    return {
      supported: false,
      reason: join(
        failed(o),
        notBuilt(ev, "DYNAMIC_FTRACE_WITH_DIRECT_CALLS", "no BPF trampolines on kernel functions"),
      ),
    };
  }
  return undefined;
}

function helperUnavailable(o: StepFailure): boolean {
  return o.stage === "load" && o.errno === EINVAL &&
    /unknown func|cannot use helper|invalid func/.test(o.logTail);
}

function explainHelper(o: StepFailure, helper: string, since: string) {
  if (!helperUnavailable(o)) return undefined;
  return {
    supported: false,
    reason: `${failed(o)}: the verifier does not offer ${helper} here (${
      keyLine(o)
    }; needs ${since}+)`,
  };
}

function explainOverride(o: StepFailure, ev: ProbeEvidence) {
  if (helperUnavailable(o)) {
    return {
      supported: false,
      reason: join(
        `${failed(o)}: ${keyLine(o)}`,
        notBuilt(
          ev,
          "BPF_KPROBE_OVERRIDE",
          "it needs CONFIG_KPROBES and CONFIG_FUNCTION_ERROR_INJECTION",
        ),
      ),
    };
  }
  if (o.stage !== "attach") return undefined;
  const absence = kprobeAbsence(ev);
  if (absence) {
    return {
      supported: false,
      reason: join(`the helper loads but its kprobe cannot attach: ${failed(o)}`, absence),
    };
  }
  if (o.errno === EINVAL) {
    return {
      supported: false,
      reason: join(failed(o), `${OVERRIDE_TARGET} is not on the kernel's error-injection list`),
    };
  }
  return undefined;
}

function explainRingbuf(o: StepFailure) {
  if (o.stage !== "load" || !/map 'probe_rb'/.test(o.logTail)) return undefined;
  return {
    supported: DEFINITE.has(o.errno) ? false : null,
    reason: `${failed(o)}: cannot create a BPF_MAP_TYPE_RINGBUF map (added in 5.8)`,
  };
}

/**
 * LSM needs three things: the BPF LSM program type, `bpf` among the active LSMs (else programs
 * attach but never run), and a real load and attach.
 */
function explainLsm(outcome: StepOutcome, ev: ProbeEvidence): FeatureResult {
  const { active, bpfListed, error } = ev.lsm;
  const list = `${LSM_LIST} (${active?.join(",") ?? "unreadable"})`;
  if (bpfListed === false) {
    const probe = outcome.ok ? "the probe loaded and attached" : `the probe ${failed(outcome)}`;
    return {
      name: "lsm",
      supported: false,
      stage: "precheck",
      ...(outcome.ok ? {} : { errno: outcome.errno }),
      reason: join(
        `bpf is not listed in ${list}: BPF LSM programs would never run; add bpf to the ` +
          "lsm= boot parameter",
        notBuilt(ev, "BPF_LSM", ""),
        `${probe} (${TARGETS.lsm})`,
      ),
      ...(outcome.ok || !outcome.logTail ? {} : { logTail: outcome.logTail }),
    };
  }
  if (outcome.ok) {
    if (bpfListed === true) {
      return {
        name: "lsm",
        supported: true,
        stage: null,
        reason: `bpf is listed in ${list} and a probe program loaded and attached (${TARGETS.lsm})`,
      };
    }
    return {
      name: "lsm",
      supported: null,
      stage: "precheck",
      reason: `a probe program loaded and attached, but the active LSM list is unknown ` +
        `(${error ?? "unreadable"}): BPF LSM programs only run when bpf is listed there`,
    };
  }
  const verb = outcome.errno === EPERM || outcome.errno === EACCES
    ? "the kernel refused the real probe"
    : "the real probe failed";
  const listed = bpfListed === true
    ? `bpf is listed in ${list}, yet ${verb}`
    : `the active LSM list is unknown (${error ?? "unreadable"}) and ${verb}`;
  const cause = explainTrampoline(outcome, ev)?.reason ?? genericReason(outcome, ev);
  const supported = DEFINITE.has(outcome.errno) ? false : null;
  return failure(
    "lsm",
    supported,
    outcome,
    join(`${listed} (${TARGETS.lsm}): ${cause}`, notBuilt(ev, "BPF_LSM", "")),
  );
}
