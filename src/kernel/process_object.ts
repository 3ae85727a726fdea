/**
 * Which build of process.bpf.o the running kernel takes. The default build walks paths with
 * bpf_loop (5.17+); kernels before 5.13 refuse an object that only references a loop callback
 * ("number of funcs in func_info doesn't match number of subprogs"), so the choice is made before
 * the load, by the kernel's own answer to the bpf_loop probe.
 *
 * @module
 */
import { PROBE_OBJECT, PROCESS_OBJECT, PROCESS_OBJECT_NO_LOOP } from "../bpf/objects.ts";
import type { BpfRuntime } from "../bpf/runtime.ts";
import { PROBE_SPECS } from "./probes.ts";
import { runProbe } from "./runner.ts";

/** The process object for this kernel, and whether it is the bpf_loop build. */
export interface ProcessObjectChoice {
  readonly bytes: Uint8Array;
  readonly bpfLoop: boolean;
}

/** Loads the bpf_loop probe program alone (one small verifier run) and picks the build. */
export function chooseProcessObject(rt: BpfRuntime): ProcessObjectChoice {
  const spec = PROBE_SPECS.find((s) => s.feature === "bpf_loop");
  if (spec === undefined) throw new Error("no bpf_loop probe in PROBE_SPECS");
  const bpfLoop = runProbe(rt, PROBE_OBJECT, spec).ok;
  return { bytes: bpfLoop ? PROCESS_OBJECT : PROCESS_OBJECT_NO_LOOP, bpfLoop };
}
