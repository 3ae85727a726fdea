/**
 * The probe programs of `bpf/probe.bpf.c` and how each is exercised. The table and the C file
 * must name the same programs; a test checks it against the built object.
 *
 * @module
 */
import type { FeatureName } from "./types.ts";

/** How a probe program is exercised after it loads. */
export type ProbeAttach =
  /** `bpf_program__attach` (section decides: tracepoint, kprobe, fentry, lsm, ...). */
  | "link"
  /** Attach as an iterator and read it once. */
  | "iter"
  /** Load only: a helper or map probe, whose question the verifier answers. */
  | "none";

/** One feature's probe program. */
export interface ProbeSpec {
  readonly feature: FeatureName;
  /** Program name in probe.bpf.o. */
  readonly program: string;
  readonly attach: ProbeAttach;
}

/**
 * Every probe, in run order. The ring buffer goes first: every load creates the object's maps,
 * so when the ring buffer map cannot be created no other probe can say anything.
 */
export const PROBE_SPECS: readonly ProbeSpec[] = [
  { feature: "ringbuf", program: "probe_ringbuf", attach: "none" },
  { feature: "tracepoint", program: "probe_tracepoint", attach: "link" },
  { feature: "raw_tp", program: "probe_raw_tp", attach: "link" },
  { feature: "tp_btf", program: "probe_tp_btf", attach: "link" },
  { feature: "kprobe", program: "probe_kprobe", attach: "link" },
  { feature: "kprobe_multi", program: "probe_kprobe_multi", attach: "link" },
  { feature: "fentry", program: "probe_fentry", attach: "link" },
  { feature: "lsm", program: "probe_lsm", attach: "link" },
  { feature: "iter", program: "probe_iter", attach: "iter" },
  { feature: "send_signal", program: "probe_send_signal", attach: "none" },
  // Attached, because the helper is only useful where a kprobe with override can attach.
  { feature: "override_return", program: "probe_override_return", attach: "link" },
  { feature: "bpf_loop", program: "probe_bpf_loop", attach: "none" },
];

/** Every program name in probe.bpf.o. */
export const PROBE_PROGRAMS: readonly string[] = PROBE_SPECS.map((s) => s.program);

/** The function probe_override_return hooks (a syscall entry point: on the error-injection list). */
export const OVERRIDE_TARGET = Deno.build.arch === "aarch64"
  ? "__arm64_sys_getppid"
  : "__x64_sys_getppid";
