/**
 * Runs one probe program for real: load only that program, attach it if its probe says so, then
 * close everything. The kernel's answer at each step is the outcome.
 *
 * @module
 */
import { BpfError } from "../bpf/errors.ts";
import type { BpfLink } from "../bpf/link.ts";
import { BpfObject } from "../bpf/object.ts";
import type { BpfRuntime } from "../bpf/runtime.ts";
import { KPROBE_MULTI_TARGET, PROBE_PROGRAMS, type ProbeSpec } from "./probes.ts";
import type { StepOutcome } from "./reasons.ts";

/**
 * Takes over a successful probe's attached link and object, to close them later: detaching a
 * perf-event link (a classic tracepoint's, a kprobe's) waits for the kernel's tracepoint
 * grace period, 60-110 ms here, which a caller with something better to do can postpone.
 */
export type ProbeLinger = (close: () => void) => void;

/**
 * Loads `spec.program` alone from `bytes`, attaches it as `spec.attach` says, closes (or, for an
 * attached link with `linger`, hands link and object to it).
 */
export function runProbe(
  rt: BpfRuntime,
  bytes: Uint8Array,
  spec: ProbeSpec,
  linger?: ProbeLinger,
): StepOutcome {
  const autoload = Object.fromEntries(PROBE_PROGRAMS.map((p) => [p, p === spec.program]));
  let obj: BpfObject;
  try {
    obj = BpfObject.load(rt, bytes, { name: "probe.bpf.o", autoload });
  } catch (err) {
    return asFailure(err, "load");
  }
  let owner: BpfObject | null = obj;
  try {
    if (spec.attach === "link") {
      const link = attach(obj, spec);
      if (linger) {
        const lingering = obj;
        owner = null;
        linger(() => {
          link.close();
          lingering.close();
        });
      } else link.close();
    }
    if (spec.attach === "iter") {
      using link = obj.attachIter(spec.program);
      link.readIterator();
    }
    return { ok: true };
  } catch (err) {
    return asFailure(err, "attach");
  } finally {
    owner?.close();
  }
}

function attach(obj: BpfObject, spec: ProbeSpec): BpfLink {
  return spec.feature === "kprobe_multi"
    ? obj.attachKprobeMulti(spec.program, [KPROBE_MULTI_TARGET])
    : obj.attach(spec.program);
}

function asFailure(err: unknown, stage: "load" | "attach"): StepOutcome {
  // Anything but a kernel/libbpf refusal is a bug in vigil: let it surface.
  if (!(err instanceof BpfError) || err.details.op === "find program") throw err;
  return { ok: false, stage, errno: err.errno, logTail: err.details.logTail ?? "" };
}
