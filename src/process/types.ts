/**
 * The process record shared by the process cache, the event builders and (later) enrichment.
 *
 * Identity: a process *instance* is `(pid, ktime)`, where `ktime` is the kernel boot-time (ns, u64)
 * of the exec or clone that created it — exactly what kernel events carry. An exec creates a new
 * instance of the same pid; `execId` is the exported, opaque form of the same identity.
 *
 * @module
 */

/**
 * Words that may appear in {@link ProcessInfo.flags}, as Tetragon prints them:
 * - `execve`: created by an exec; `clone`: created by a fork/clone without exec (yet);
 * - `procFS`: found by the start-up scan (the process predates the agent);
 * - `truncArgs`: the argument list was cut to fit; `errorArgs`: it could not be read;
 * - `rootcwd`: the cwd is `/`; `nocwd`: the cwd could not be read;
 * - `miss`: the kernel had no record of the process when it produced the event;
 * - `nometadata` (vigil's own word): the process runs in a container whose workload metadata (the
 *   `pod` / `cf` objects) no metadata source knew when the event was emitted, after the event
 *   waited for it (see `src/workload/gate.ts`); printed per event, never stored in the cache.
 */
export type ProcessFlag =
  | "execve"
  | "clone"
  | "procFS"
  | "truncArgs"
  | "errorArgs"
  | "rootcwd"
  | "nocwd"
  | "miss"
  | "nometadata";

/**
 * Open enrichment slot (container, pod, …). Its non-empty fields are printed in the exported
 * `process` object after `auid` (where Tetragon prints `pod` and `docker`); bigints print as
 * decimal strings. Whoever changes it must clear {@link ProcessInfo.json}, and must replace the
 * object rather than mutate it: its serialization is memoised per object (many processes share
 * one, e.g. every process of a container).
 */
export type ProcessExtra = Record<string, unknown>;

/**
 * The container a process runs in, shared by every process of that container (see
 * `src/workload/containers.ts`). `extra` is the container's current enrichment object, replaced
 * (never mutated) when its workload metadata changes, so comparing it by identity with
 * {@link ProcessInfo.extra} tells whether a process's cached JSON is stale.
 */
export interface ProcessContainer {
  readonly extra: ProcessExtra;
}

/** One process instance as the cache stores it. */
export interface ProcessInfo {
  /** Thread-group id (the user-visible pid). */
  pid: number;
  /** Thread id of the thread that exec'd / was cloned (equals `pid` for a group leader). */
  tid: number;
  /** Boot-time ns of the exec or clone that created this instance (kernel u64). */
  ktime: bigint;
  /** `base64("<node>:<ktime>:<pid>")`, see `execId()` in `exec_id.ts`. */
  execId: string;
  /** Parent's pid; 0 when unknown or for the kernel's idle task. */
  parentPid: number;
  /** Parent instance's ktime; 0n when unknown. */
  parentKtime: bigint;
  /** Parent's exec id; "" when unknown. */
  parentExecId: string;
  /** Path of the executed binary. */
  binary: string;
  /** Arguments after argv[0], already shell-quoted into one string (see `shellQuoteArgs`). */
  arguments: string;
  /** Working directory at exec. */
  cwd: string;
  /** Real uid at exec. */
  uid: number;
  /** Audit (login) uid; 4294967295 means unset. */
  auid: number;
  /** Flag words, see {@link ProcessFlag}. */
  flags: string[];
  /** Wall-clock start time, RFC3339 with 9 fractional digits and `Z`. */
  startTime: string;
  /** Cgroup (v2) id of the process at exec. */
  cgroupId: bigint;
  /** The pid in the process's own pid namespace (printed as `pod.container.pid`); 0 unknown. */
  nsPid?: number;
  /**
   * References held on this instance: one for the process itself until it exits (or is replaced
   * by an exec), plus one per known child instance that has not exited. Maintained by the cache;
   * the value passed to `upsert()` is ignored.
   */
  refcnt: number;
  /** Boot-time ns of the exit, set by the cache's `onExit()`. */
  exitKtime?: bigint;
  /** Enrichment slot, see {@link ProcessExtra}. */
  extra?: ProcessExtra;
  /**
   * The container of the process (from its cgroup at exec, or its parent's at fork when the
   * cgroup is unknown); undefined for host processes. Not printed.
   */
  container?: ProcessContainer;
  /**
   * Cached serialized `process` JSON object (see `cachedProcessJson()` in
   * `events/process_json.ts`), reused by every event of this instance. The cache clears it when
   * an upsert changes the record; anyone else who changes a printed field must clear it too.
   */
  json?: string;
}

/** What `ProcessCache.upsert()` takes: a {@link ProcessInfo} whose bookkeeping fields are optional. */
export type ProcessInit = Omit<ProcessInfo, "refcnt" | "json" | "exitKtime"> & {
  refcnt?: number;
  json?: string;
  exitKtime?: bigint;
};
