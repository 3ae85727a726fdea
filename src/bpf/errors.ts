/**
 * Errors of the BPF layer. Each names the operation, the object (and program), the errno and,
 * for load failures, the tail of the verifier log — what an operator needs to act.
 *
 * @module
 */
import { errnoName } from "../ffi/libc.ts";

/** Details of a {@link BpfError}. */
export interface BpfErrorDetails {
  /** What was being done: "open", "load", "attach", "map update", ... */
  readonly op: string;
  /** Object name, e.g. "process.bpf.o". */
  readonly object: string;
  /** Program name when one program failed. */
  readonly program?: string;
  /** Positive errno. */
  readonly errno: number;
  /** Last lines of the verifier log or libbpf's own messages. */
  readonly logTail?: string;
}

/** A failed libbpf or kernel operation. */
export class BpfError extends Error {
  override name = "BpfError";
  readonly details: BpfErrorDetails;

  constructor(details: BpfErrorDetails, options?: ErrorOptions) {
    const where = details.program
      ? `${details.object}: program ${details.program}`
      : details.object;
    const tail = details.logTail ? `\n${details.logTail}` : "";
    super(`${details.op} ${where}: ${errnoName(details.errno)}${tail}`, options);
    this.details = details;
  }

  /** Positive errno of the failure. */
  get errno(): number {
    return this.details.errno;
  }
}

/** Keeps the last `maxLines` non-empty lines of a log, for error messages. */
export function logTail(text: string, maxLines = 12): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines.slice(-maxLines).join("\n");
}
