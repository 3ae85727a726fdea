/**
 * Decoded kernel records, as the pipeline sees them. 64-bit kernel values (keys, cgroup ids) are
 * bigint; everything else fits a number.
 *
 * @module
 */

/** Fields every record carries (from struct vigil_header). */
export interface RecordHeader {
  /** Boot-time ns when the event happened. */
  readonly ktime: bigint;
  readonly pid: number;
  readonly tid: number;
}

/** A process exec'd a new image (struct vigil_exec + tail). */
export interface ExecRecord extends RecordHeader {
  readonly kind: "exec";
  readonly ktimeKey: bigint;
  readonly parentPid: number;
  readonly parentKtime: bigint;
  readonly cgroupId: bigint;
  readonly uid: number;
  readonly euid: number;
  readonly auid: number;
  /** enum vigil_exec_flags bits. */
  readonly flags: number;
  /** The path given to exec (may be relative to cwd). */
  readonly filename: string;
  /** argv, argv[0] included. */
  readonly argv: string[];
  /** Working directory; "" when it could not be read. */
  readonly cwd: string;
  readonly comm: string;
  /** The pid in the process's own pid namespace (its pid inside a container). */
  readonly nsPid: number;
}

/** A new process was forked (struct vigil_clone). */
export interface CloneRecord extends RecordHeader {
  readonly kind: "clone";
  readonly ktimeKey: bigint;
  readonly parentPid: number;
  readonly parentKtime: bigint;
  readonly cgroupId: bigint;
  readonly uid: number;
  readonly auid: number;
  readonly flags: number;
  readonly comm: string;
  /** The pid in the child's own pid namespace. */
  readonly nsPid: number;
}

/** The last thread of a process exited (struct vigil_exit). */
export interface ExitRecord extends RecordHeader {
  readonly kind: "exit";
  readonly ktimeKey: bigint;
  /** wait(2) status: exit status in bits 8–15, terminating signal in bits 0–6. */
  readonly exitCode: number;
}

/** A synthetic benchmark record (struct vigil_bench). */
export interface BenchRecord extends RecordHeader {
  readonly kind: "bench";
  readonly seq: number;
  readonly value: number;
}

/** A process found by the start-up task iterator (struct vigil_process_seed). */
export interface SeedRecord {
  readonly ktimeKey: bigint;
  readonly parentKtime: bigint;
  readonly cgroupId: bigint;
  readonly pid: number;
  readonly parentPid: number;
  readonly uid: number;
  readonly auid: number;
  readonly flags: number;
  readonly comm: string;
}

/** A cgroup was created or removed in the tracked hierarchy (struct vigil_cgroup_event). */
export interface CgroupRecord extends RecordHeader {
  readonly kind: "cgroup_mkdir" | "cgroup_rmdir";
  readonly cgroupId: bigint;
  /** Path from the hierarchy root, e.g. `/kubepods/besteffort/pod…/…`. */
  readonly path: string;
}

/**
 * A policy hook posted an event (struct vigil_policy_event + tail). The ring record says which
 * hook fired; the hook's planned argument types decide how `ints` and `data` are printed.
 */
export interface PolicyRecord extends RecordHeader {
  readonly kind: "policy";
  /** The process instance's key, as in process events. */
  readonly ktimeKey: bigint;
  readonly cgroupId: bigint;
  /** Exit hooks: the return value. */
  readonly ret: bigint;
  readonly hookId: number;
  readonly policyId: number;
  /** Index of the selector that matched, in the compiled hook. */
  readonly selector: number;
  /** `enum vigil_action_kind` value taken. */
  readonly action: number;
  /** `enum vigil_event_flags` bits. */
  readonly flags: number;
  /** One entry per arg (`nargs`): arg `i`'s value (sign- or zero-extended, or a pointer). */
  readonly ints: readonly bigint[];
  /**
   * One entry per arg: its variable data (empty when it has none). Views into the ring buffer:
   * valid while the record is in the ring; `detachPolicyRecord` copies them to keep longer.
   */
  readonly data: readonly Uint8Array[];
}

/** Any record of the events ring buffer. */
export type KernelRecord =
  | ExecRecord
  | CloneRecord
  | ExitRecord
  | BenchRecord
  | CgroupRecord
  | PolicyRecord;
