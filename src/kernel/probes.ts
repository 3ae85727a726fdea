/**
 * The probe programs of `bpf/probe.bpf.c` and how each is exercised, derived from the feature
 * table. The table and the C file must name the same programs; a test checks it against the
 * built object.
 *
 * @module
 */
import { FEATURE_TABLE, type FeatureName, type ProbeAttach } from "./features_table.ts";

export type { ProbeAttach } from "./features_table.ts";

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
  ...FEATURE_TABLE.filter((r) => r.name === "ringbuf"),
  ...FEATURE_TABLE.filter((r) => r.name !== "ringbuf"),
].map((r) => ({ feature: r.name, program: r.program, attach: r.attach }));

/** Every program name in probe.bpf.o. */
export const PROBE_PROGRAMS: readonly string[] = PROBE_SPECS.map((s) => s.program);

/**
 * The function the kprobe_multi probe attaches to, by name (its SEC() names it too; libbpf would
 * read all of /proc/kallsyms to match the section's pattern).
 */
export const KPROBE_MULTI_TARGET = "do_nanosleep";

/** The function probe_override_return hooks (a syscall entry point: on the error-injection list). */
export const OVERRIDE_TARGET = Deno.build.arch === "aarch64"
  ? "__arm64_sys_getppid"
  : "__x64_sys_getppid";
