/**
 * The record pipeline: each ring-buffer record is decoded once (`src/events/decode.ts`), then
 * handed to the handler of its kind, from one explicit table (no registration at import time).
 * Handlers update their state and emit through the gate and the single exit (`out.ts`); the
 * counters sit beside the code that counts.
 *
 * A new record kind adds its decoder (events/), a handler, and one row in {@link recordHandlers}.
 *
 * @module
 */
import type { CgroupRegistry } from "../cgroup/registry.ts";
import { decodeRecord } from "../events/decode.ts";
import type { KernelRecord } from "../events/records.ts";
import type { Logger } from "../log/logger.ts";
import type { Enrichment } from "../workload/enrichment.ts";
import type { PolicyEvents } from "./policy_events.ts";
import type { ProcessTracker } from "./process_tracker.ts";

/** The record type(s) of kind `K` (one record type may carry two kinds, as cgroup mkdir/rmdir). */
type OfKind<R, K> = R extends { readonly kind: infer RK } ? (K extends RK ? R : never) : never;

/** Record kind → its handler; a kind without a row is decoded and dropped (e.g. `bench`). */
export type RecordHandlers = {
  readonly [K in KernelRecord["kind"]]?: (record: OfKind<KernelRecord, K>) => void;
};

/** The consumers of the agent's records. */
export interface RecordConsumers {
  readonly processes: ProcessTracker;
  readonly cgroups: Pick<CgroupRegistry, "onMkdir" | "onRmdir">;
  /** Fetches a new cgroup's container metadata (the workload enrichment). */
  readonly enrichment: Pick<Enrichment, "onCgroupMkdir">;
  readonly policies: PolicyEvents;
  /** `Date.now()`, for the cgroup registry's removal grace. */
  readonly now?: () => number;
}

/** The agent's table: which component handles each record kind. */
export function recordHandlers(c: RecordConsumers): RecordHandlers {
  const now = c.now ?? Date.now;
  return {
    exec: (r) => c.processes.onExec(r),
    clone: (r) => c.processes.onClone(r),
    exit: (r) => c.processes.onExit(r),
    cgroup_mkdir: (r) => {
      c.cgroups.onMkdir(r.cgroupId, r.path);
      // Fetch the container's metadata now, before its first exec.
      c.enrichment.onCgroupMkdir(r.cgroupId);
    },
    cgroup_rmdir: (r) => c.cgroups.onRmdir(r.cgroupId, now()),
    policy: (r) => c.policies.onRecord(r),
  };
}

/** Decodes and dispatches records; a record that fails is counted and logged (first ten). */
export class RecordPipeline {
  readonly #handlers: RecordHandlers;
  readonly #logger: Logger | undefined;
  #decodeErrors = 0;

  constructor(handlers: RecordHandlers, logger?: Logger) {
    this.#handlers = handlers;
    this.#logger = logger;
  }

  /** Records that could not be decoded or handled. */
  get decodeErrors(): number {
    return this.#decodeErrors;
  }

  /** The ring reader's callback: the record at `at` of `length` bytes. */
  readonly onRecord = (view: DataView, at: number, length: number): void => {
    try {
      const record = decodeRecord(view, at, length);
      const handle = this.#handlers[record.kind] as ((r: KernelRecord) => void) | undefined;
      if (handle !== undefined) handle(record);
    } catch (err) {
      if (this.#decodeErrors++ < 10) {
        this.#logger?.warn("cannot decode record", { error: String(err) });
      }
    }
  };
}
