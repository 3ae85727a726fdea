/**
 * The compiled BPF objects, imported as bytes: `deno compile` embeds them and `deno run` reads
 * the same imports, so both run one code path. Built by `scripts/build_bpf.sh` into bpf/out/.
 *
 * @module
 */
import processObject from "../../bpf/out/process.bpf.o" with { type: "bytes" };
import probeObject from "../../bpf/out/probe.bpf.o" with { type: "bytes" };
import policyObject from "../../bpf/out/policy.bpf.o" with { type: "bytes" };

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

/** probe.bpf.o: one tiny program per attach mechanism or helper, for `vigil probe`. */
export const PROBE_OBJECT: Uint8Array = probeObject;

/** policy.bpf.o: the generic TracingPolicy program and its configuration maps. */
export const POLICY_OBJECT: Uint8Array = policyObject;

/** The entry program of policy.bpf.o (loaded once per tracepoint instance; see the engine). */
export const POLICY_PROGRAM = "vigil_policy";
