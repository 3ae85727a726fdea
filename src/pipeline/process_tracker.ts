/**
 * Applies process lifecycle records to the process cache and emits `process_exec` /
 * `process_exit` events. Clone records only update the cache (as in Tetragon): a forked process
 * runs its parent's image until it execs, so it inherits binary, arguments and cwd, and its
 * container (workload) from the start.
 *
 * Events go out through the {@link EventGate}: emitted at once when the process's workload
 * metadata is known (or nothing can be waited for), else parked until it is (see
 * `src/workload/gate.ts`). The line builders are made once; the record itself is the event.
 *
 * @module
 */
import { ENUMS } from "../bpf/abi.gen.ts";
import type { CloneRecord, ExecRecord, ExitRecord, SeedRecord } from "../events/records.ts";
import { decodeWaitStatus, execEventLine, exitEventLine } from "../events/process_json.ts";
import { resolveBinary } from "../process/binary_path.ts";
import type { ProcessCache } from "../process/cache.ts";
import { execId } from "../process/exec_id.ts";
import { type BootTimeFormatter, shellQuoteArgs } from "../process/format.ts";
import type { ProcfsReader } from "../process/procfs.ts";
import type { ProcessInfo } from "../process/types.ts";
import {
  type ContainerWorkload,
  workloadOf,
  type WorkloadTracker,
} from "../workload/containers.ts";
import type { EventGate, EventLines } from "../workload/gate.ts";

const F = ENUMS.vigil_exec_flags;

/** The event types the tracker exports. */
export const PROCESS_EVENT_TYPES: readonly string[] = ["process_exec", "process_exit"];

/** Collaborators of a {@link ProcessTracker}. */
export interface ProcessTrackerDeps {
  readonly cache: ProcessCache;
  readonly clock: BootTimeFormatter;
  readonly nodeName: string;
  /** Container of each cgroup id and its export fields; absent: no enrichment. */
  readonly workload?: WorkloadTracker;
  /** Emits each event, or holds it back until its workload metadata is known. */
  readonly gate: EventGate;
}

/** Exec-record flag bits → Tetragon flag words. */
function execFlags(bits: number, cwd: string): string[] {
  const words = ["execve"];
  if (bits & F.VIGIL_F_TRUNC_ARGS) words.push("truncArgs");
  if (bits & F.VIGIL_F_ERROR_ARGS) words.push("errorArgs");
  if (bits & F.VIGIL_F_ROOT_CWD) words.push("rootcwd");
  if (cwd === "" || (bits & F.VIGIL_F_ERROR_CWD)) words.push("nocwd");
  return words;
}

/** Tracks processes from kernel records; owns nothing but its counters. */
export class ProcessTracker {
  readonly #deps: ProcessTrackerDeps;
  readonly #execLines: EventLines<ExecRecord>;
  readonly #exitLines: EventLines<ExitRecord>;
  /** Exits of processes the tracker never saw (exported with what the exit record says). */
  unknownExits = 0;

  constructor(deps: ProcessTrackerDeps) {
    this.#deps = deps;
    const { clock, nodeName } = deps;
    // Decoded records own their strings (no ring views): kept as they are when they wait.
    this.#execLines = {
      line: (r, p, q) => execEventLine(p, q, nodeName, clock.format(r.ktime)),
      keep: (r) => r,
    };
    this.#exitLines = {
      line: (r, p, q) =>
        exitEventLine(p, q, decodeWaitStatus(r.exitCode), nodeName, clock.format(r.ktime)),
      keep: (r) => r,
    };
  }

  /**
   * The container fields of a new instance: the container of its cgroup, or `fallback` (the
   * parent's, at fork) when the cgroup is not known yet.
   */
  #container(
    cgroupId: bigint,
    fallback?: ContainerWorkload,
  ): { container?: ContainerWorkload; extra?: ProcessInfo["extra"] } {
    const workload = this.#deps.workload;
    const container = workload ? workload.containerOf(cgroupId, fallback) : fallback;
    return container ? { container, extra: container.extra } : {};
  }

  #parentExecId(pid: number, ktime: bigint): string {
    return pid === 0 ? "" : execId(this.#deps.nodeName, ktime, pid);
  }

  /** Adds the processes that ran before the agent, parents first, flagged `procFS`. */
  seed(seeds: readonly SeedRecord[], procfs: ProcfsReader): number {
    const { cache, clock, nodeName } = this.#deps;
    const ordered = [...seeds].sort((
      a,
      b,
    ) => (a.ktimeKey < b.ktimeKey ? -1 : a.ktimeKey > b.ktimeKey ? 1 : 0));
    for (const s of ordered) {
      const proc = procfs.read(s.pid);
      const flags = ["procFS"];
      if (proc.cwd === "/") flags.push("rootcwd");
      if (proc.cwd === "") flags.push("nocwd");
      cache.upsert({
        pid: s.pid,
        tid: s.pid,
        ktime: s.ktimeKey,
        execId: execId(nodeName, s.ktimeKey, s.pid),
        parentPid: s.parentPid,
        parentKtime: s.parentKtime,
        parentExecId: this.#parentExecId(s.parentPid, s.parentKtime),
        // Kernel threads have no executable; Tetragon-style consumers still want a name.
        binary: proc.binary || (s.flags & F.VIGIL_F_KTHREAD ? `[${s.comm}]` : ""),
        arguments: shellQuoteArgs(proc.argv.slice(1)),
        cwd: proc.cwd,
        uid: s.uid,
        auid: s.auid,
        flags,
        startTime: clock.format(s.ktimeKey),
        cgroupId: s.cgroupId,
        nsPid: proc.nsPid,
        ...this.#container(s.cgroupId),
      });
    }
    return ordered.length;
  }

  /** A process exec'd: a new instance, exported as `process_exec`. */
  onExec(r: ExecRecord): void {
    const { cache, clock, nodeName, gate } = this.#deps;
    const process = cache.upsert({
      pid: r.pid,
      tid: r.tid,
      ktime: r.ktimeKey,
      execId: execId(nodeName, r.ktimeKey, r.pid),
      parentPid: r.parentPid,
      parentKtime: r.parentKtime,
      parentExecId: this.#parentExecId(r.parentPid, r.parentKtime),
      binary: resolveBinary(r.filename, r.cwd),
      arguments: shellQuoteArgs(r.argv.slice(1)),
      cwd: r.cwd,
      uid: r.uid,
      auid: r.auid,
      flags: execFlags(r.flags, r.cwd),
      startTime: clock.format(r.ktimeKey),
      cgroupId: r.cgroupId,
      nsPid: r.nsPid,
      ...this.#container(r.cgroupId),
    });
    const parent = cache.peek(r.parentPid, r.parentKtime);
    gate.emitOrPark("process_exec", undefined, this.#execLines, r, process, parent);
  }

  /** A process forked: cached with its parent's image, not exported. */
  onClone(r: CloneRecord): void {
    const { cache, clock, nodeName } = this.#deps;
    const parent: ProcessInfo | undefined = cache.peek(r.parentPid, r.parentKtime);
    cache.upsert({
      pid: r.pid,
      tid: r.tid,
      ktime: r.ktimeKey,
      execId: execId(nodeName, r.ktimeKey, r.pid),
      parentPid: r.parentPid,
      parentKtime: r.parentKtime,
      parentExecId: this.#parentExecId(r.parentPid, r.parentKtime),
      binary: parent?.binary ?? "",
      arguments: parent?.arguments ?? "",
      cwd: parent?.cwd ?? "",
      uid: r.uid,
      auid: r.auid,
      flags: parent ? ["clone"] : ["clone", "miss"],
      startTime: clock.format(r.ktimeKey),
      cgroupId: r.cgroupId,
      nsPid: r.nsPid,
      // The child's own cgroup decides (its parent's at fork, unless CLONE_INTO_CGROUP); an
      // unknown cgroup inherits the parent's container, so the workload is there before any exec.
      ...this.#container(r.cgroupId, workloadOf(parent)),
    });
  }

  /** The last thread of a process exited: exported as `process_exit`. */
  onExit(r: ExitRecord): void {
    const { cache, gate } = this.#deps;
    let process = cache.onExit(r.pid, r.ktimeKey, r.ktime);
    if (!process) {
      this.unknownExits++;
      process = this.#unknownProcess(r);
    }
    const parent = process.parentPid
      ? cache.peek(process.parentPid, process.parentKtime)
      : undefined;
    gate.emitOrPark("process_exit", undefined, this.#exitLines, r, process, parent);
  }

  /**
   * The cached records of instance (pid, ktime) (else the pid's current instance) and of its
   * parent, for events that other sources (policies) raise about a process; undefined when
   * unknown.
   */
  instances(pid: number, ktime: bigint): [ProcessInfo | undefined, ProcessInfo | undefined] {
    const { cache } = this.#deps;
    const process = cache.get(pid, ktime) ?? cache.getByPid(pid);
    if (!process) return [undefined, undefined];
    const parent = process.parentPid
      ? cache.peek(process.parentPid, process.parentKtime)
      : undefined;
    return [process, parent];
  }

  #unknownProcess(r: ExitRecord): ProcessInfo {
    return {
      pid: r.pid,
      tid: r.tid,
      ktime: r.ktimeKey,
      execId: execId(this.#deps.nodeName, r.ktimeKey, r.pid),
      parentPid: 0,
      parentKtime: 0n,
      parentExecId: "",
      binary: "",
      arguments: "",
      cwd: "",
      uid: 0,
      auid: 0xffffffff,
      flags: ["miss"],
      startTime: this.#deps.clock.format(r.ktimeKey),
      cgroupId: 0n,
      refcnt: 0,
    };
  }
}
