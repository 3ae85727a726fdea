/**
 * The classic tracepoint program (`bpf/policy_tracepoint.bpf.c`): one generic program attached
 * once per tracepoint, the attach slot (the hooks there) as the attach cookie, arguments read
 * from the tracepoint's record.
 * It serves both `tracepoint` and `syscall_tracepoint` rows.
 *
 * @module
 */

import type { AttachPoint, EntryProgram } from "./types.ts";

function tracepointOf(at: AttachPoint): { subsystem: string; event: string } {
  if (at.kind !== "tracepoint") throw new Error(`the tracepoint program cannot attach ${at.kind}`);
  return at;
}

/** The tracepoint entry program. */
export const TRACEPOINT_PROGRAM: EntryProgram = {
  object: "policy_tracepoint.bpf.o",
  names: ["vigil_policy"],
  needs: "tracefs",
  copies: "shared",
  select: () => ({ program: "vigil_policy" }),
  // The kernel attaches a program at most once per tracepoint (EEXIST): the hooks there share
  // one attachment.
  attachKey(at) {
    const tp = tracepointOf(at);
    return `${tp.subsystem}/${tp.event}`;
  },
  attach(object, program, at, cookie) {
    const tp = tracepointOf(at);
    return object.attachTracepoint(program, tp.subsystem, tp.event, cookie);
  },
};
