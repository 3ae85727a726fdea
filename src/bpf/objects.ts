/**
 * The compiled BPF objects, imported as bytes: `deno compile` embeds them and `deno run` reads
 * the same imports, so both run one code path. Built by `scripts/build_bpf.sh` into bpf/out/.
 *
 * @module
 */
import processObject from "../../bpf/out/process.bpf.o" with { type: "bytes" };
import processNoLoopObject from "../../bpf/out/process_no_loop.bpf.o" with { type: "bytes" };
import probeObject from "../../bpf/out/probe.bpf.o" with { type: "bytes" };
import policyTracepointObject from "../../bpf/out/policy_tracepoint.bpf.o" with { type: "bytes" };
import policyKprobeObject from "../../bpf/out/policy_kprobe.bpf.o" with { type: "bytes" };
import policyFentryObject from "../../bpf/out/policy_fentry.bpf.o" with { type: "bytes" };
import policyLsmObject from "../../bpf/out/policy_lsm.bpf.o" with { type: "bytes" };

/** process.bpf.o: exec/fork/exit tracking, the events ring buffer, the task iterator. */
export const PROCESS_OBJECT: Uint8Array = processObject;

/** The programs of process.bpf.o the agent attaches (the task iterator runs once, at start). */
export const PROCESS_PROGRAMS = [
  "vigil_exec",
  "vigil_fork",
  "vigil_exit",
  "vigil_cgroup_mkdir",
  "vigil_cgroup_rmdir",
] as const;

/**
 * process.bpf.o built without bpf_loop callbacks, for kernels before 5.17 (same maps and records;
 * relative binary paths stay as exec'd). `src/kernel/process_object.ts` picks one of the two.
 */
export const PROCESS_OBJECT_NO_LOOP: Uint8Array = processNoLoopObject;

/** probe.bpf.o: one tiny program per attach mechanism or helper, for `vigil probe`. */
export const PROBE_OBJECT: Uint8Array = probeObject;

/**
 * The policy engine's objects, one per entry program (`bpf/policy_<mechanism>.bpf.c`), by file
 * name. Each holds the same selector engine and map definitions (`bpf/lib/policy.h`).
 */
export const POLICY_OBJECTS: Readonly<Record<string, Uint8Array>> = {
  "policy_tracepoint.bpf.o": policyTracepointObject,
  "policy_kprobe.bpf.o": policyKprobeObject,
  "policy_fentry.bpf.o": policyFentryObject,
  "policy_lsm.bpf.o": policyLsmObject,
};
