/**
 * The one table of kernel features vigil may use: for each, the probe program that answers for it,
 * how the probe exercises it, the first upstream kernel that has it, and the build options it
 * needs. FEATURE_NAMES and PROBE_SPECS are derived from it; the feature tests read the minimum
 * versions to fail when a kernel that should have a feature reports it missing, or the reverse.
 *
 * @module
 */

/** How a probe program is exercised after it loads. */
export type ProbeAttach =
  /** `bpf_program__attach` (section decides: tracepoint, kprobe, fentry, lsm, ...). */
  | "link"
  /** Attach as an iterator and read it once. */
  | "iter"
  /** Load only: a helper or map probe, whose question the verifier answers. */
  | "none";

/** One row of {@link FEATURE_TABLE}. */
export interface FeatureRow {
  readonly name: string;
  /** Program name in probe.bpf.o. */
  readonly program: string;
  readonly attach: ProbeAttach;
  /** First upstream release with the feature as vigil's probe uses it, "major.minor". */
  readonly minKernel: string;
  /** Build options (without CONFIG_) the feature needs; all must be y or m. */
  readonly config: readonly string[];
  /** The upstream change that brought it, for readers who want to check. */
  readonly since: string;
}

/** Every feature, in report order. */
export const FEATURE_TABLE = [
  {
    name: "tracepoint",
    program: "probe_tracepoint",
    attach: "link",
    minKernel: "4.7",
    config: ["BPF_EVENTS", "FTRACE_SYSCALLS"],
    since: "BPF_PROG_TYPE_TRACEPOINT",
  },
  {
    name: "raw_tp",
    program: "probe_raw_tp",
    attach: "link",
    minKernel: "4.17",
    config: ["BPF_EVENTS"],
    since: "BPF_PROG_TYPE_RAW_TRACEPOINT",
  },
  {
    name: "tp_btf",
    program: "probe_tp_btf",
    attach: "link",
    minKernel: "5.5",
    config: ["BPF_EVENTS", "DEBUG_INFO_BTF"],
    since: "BPF_TRACE_RAW_TP with BTF (BPF trampoline series)",
  },
  {
    name: "kprobe",
    program: "probe_kprobe",
    attach: "link",
    minKernel: "4.1",
    config: ["KPROBES", "KPROBE_EVENTS"],
    since: "BPF_PROG_TYPE_KPROBE",
  },
  {
    name: "kprobe_multi",
    program: "probe_kprobe_multi",
    attach: "link",
    minKernel: "5.18",
    config: ["FPROBE"],
    since: "BPF_TRACE_KPROBE_MULTI (fprobe)",
  },
  {
    name: "fentry",
    program: "probe_fentry",
    attach: "link",
    minKernel: "5.5",
    config: ["BPF_JIT", "DYNAMIC_FTRACE_WITH_DIRECT_CALLS"],
    since: "BPF_TRACE_FENTRY (BPF trampoline)",
  },
  {
    name: "lsm",
    program: "probe_lsm",
    attach: "link",
    minKernel: "5.7",
    config: ["BPF_LSM"],
    since: "BPF_PROG_TYPE_LSM (KRSI); runs only with bpf in the lsm= list",
  },
  {
    name: "iter",
    program: "probe_iter",
    attach: "iter",
    minKernel: "5.8",
    config: [],
    since: "bpf_iter task",
  },
  {
    name: "send_signal",
    program: "probe_send_signal",
    attach: "none",
    minKernel: "5.3",
    config: [],
    since: "bpf_send_signal",
  },
  {
    name: "override_return",
    program: "probe_override_return",
    // Attached, because the helper is only useful where a kprobe with override can attach.
    attach: "link",
    minKernel: "4.16",
    config: ["BPF_KPROBE_OVERRIDE"],
    since: "bpf_override_return",
  },
  {
    name: "bpf_loop",
    program: "probe_bpf_loop",
    attach: "none",
    minKernel: "5.17",
    config: [],
    since: "bpf_loop",
  },
  {
    name: "ringbuf",
    program: "probe_ringbuf",
    attach: "none",
    minKernel: "5.8",
    config: [],
    since: "BPF_MAP_TYPE_RINGBUF",
  },
] as const satisfies readonly FeatureRow[];

/** One probed mechanism or helper. */
export type FeatureName = typeof FEATURE_TABLE[number]["name"];

/** The row of `name`. */
export function featureRow(name: FeatureName): FeatureRow {
  const row = FEATURE_TABLE.find((r) => r.name === name);
  if (row === undefined) throw new Error(`no feature ${name} in FEATURE_TABLE`);
  return row;
}

/**
 * Whether kernel `release` ("6.1.0-57-amd64", "5.10.223") is at or above `min` ("5.8").
 *
 * @example
 * ```ts
 * kernelAtLeast("6.12.95+deb12-amd64", "5.18"); // true
 * kernelAtLeast("5.10.0-46-amd64", "5.17"); // false
 * ```
 */
export function kernelAtLeast(release: string, min: string): boolean {
  const have = /^(\d+)\.(\d+)/.exec(release);
  const want = /^(\d+)\.(\d+)$/.exec(min);
  if (have === null || want === null) {
    throw new Error(`cannot compare kernel versions '${release}' and '${min}'`);
  }
  const [hMajor, hMinor, wMajor, wMinor] = [have[1], have[2], want[1], want[2]].map(Number) as [
    number,
    number,
    number,
    number,
  ];
  return hMajor !== wMajor ? hMajor > wMajor : hMinor >= wMinor;
}
