/**
 * The kernel side of the policy engine: owns `policy.bpf.o` (one generic program), its maps and
 * one link per attached hook. It shares the events ring buffer and the exec_binaries map with the
 * process object, so policy events arrive in the same stream. Classic tracepoints need tracefs:
 * the engine mounts it when absent and unmounts what it mounted at close.
 *
 * Hook slots and set ids are allocated here; the manager decides what goes in them.
 *
 * The kernel attaches a given program at most once per tracepoint (a second attach fails with
 * EEXIST), so when hooks of several policies (or the old and new version of a replaced policy)
 * need the same tracepoint, the engine loads another instance of the object that shares every map
 * of the first: the n-th hook on a tracepoint runs the n-th instance's program. Instances are
 * loaded on first need and kept.
 *
 * @module
 */
import { ENUMS, RODATA, STRUCTS } from "../bpf/abi.gen.ts";
import type { BpfLink } from "../bpf/link.ts";
import type { MapHandle } from "../bpf/map.ts";
import { BpfObject } from "../bpf/object.ts";
import { POLICY_OBJECT, POLICY_PROGRAM } from "../bpf/objects.ts";
import type { BpfRuntime } from "../bpf/runtime.ts";
import { cString } from "../ffi/libbpf.ts";
import { errnoName, readErrno } from "../ffi/libc.ts";
import { isMounted, TRACEFS as TRACEFS_FS } from "../kernel/mounts.ts";
import type { Logger } from "../log/logger.ts";

const PROGRAM = POLICY_PROGRAM;
const TRACEFS = TRACEFS_FS.target;
const MAX_HOOKS = ENUMS.vigil_policy_limits.VIGIL_MAX_HOOKS;

/** Maps the engine shares with the process object. */
export interface SharedMaps {
  readonly events: number;
  readonly exec_binaries: number;
  readonly counters: number;
  /**
   * pid → key of the process's last exec (process.bpf.o's). Without it, policy events of a process
   * that exec'd after the agent started carry its fork-time key.
   */
  readonly exec_keys?: number;
}

/** Every map of policy.bpf.o (all but its .rodata): extra instances share them all. */
const OBJECT_MAPS = [
  "events",
  "exec_binaries",
  "counters",
  "exec_keys",
  "hooks",
  "hook_counters",
  "str_sets",
  "lpm_sets",
  "int_sets",
  "rate_limits",
  "policy_scratch_map",
] as const;

/** Per-hook kernel counters, summed over CPUs. */
export interface HookCounters {
  seen: number;
  posted: number;
  filtered: number;
  rateLimited: number;
  signals: number;
  monitorSkipped: number;
  drops: number;
}

/** Set entries of one compiled hook (keys as laid out in abi.h). */
export interface SetEntries {
  readonly str: readonly Uint8Array[];
  readonly lpm: readonly Uint8Array[];
  readonly int: readonly Uint8Array[];
}

/** Owner of the policy object. */
export class PolicyEngine implements Disposable {
  readonly #rt: BpfRuntime;
  readonly #object: BpfObject;
  /** Program instances: [0] is #object; more are loaded when hooks share a tracepoint. */
  readonly #instances: BpfObject[];
  readonly #loadInstance: (reuseMaps: Record<string, number>) => BpfObject;
  /** Tracepoint (`category/name`) → indexes of the instances attached there. */
  readonly #attached = new Map<string, Set<number>>();
  /** Hook id → where its link is, until the hook is released. */
  readonly #hookAt = new Map<number, { tracepoint: string; instance: number }>();
  readonly #hooks: MapHandle;
  readonly #counters: MapHandle;
  readonly #sets: { str: MapHandle; lpm: MapHandle; int: MapHandle };
  readonly #free: number[] = [];
  #nextSetId = 1;
  #mountedTracefs = false;
  readonly #logger: Logger;

  private constructor(
    rt: BpfRuntime,
    object: BpfObject,
    logger: Logger,
    loadInstance: (reuseMaps: Record<string, number>) => BpfObject,
  ) {
    this.#rt = rt;
    this.#object = object;
    this.#instances = [object];
    this.#loadInstance = loadInstance;
    this.#logger = logger;
    this.#hooks = object.map("hooks");
    this.#counters = object.map("hook_counters");
    this.#sets = {
      str: object.map("str_sets"),
      lpm: object.map("lpm_sets"),
      int: object.map("int_sets"),
    };
    // Hook 0 is never used: an unset cookie reads as 0.
    for (let id = MAX_HOOKS - 1; id >= 1; id--) this.#free.push(id);
  }

  /** Loads the policy object against the process object's shared maps. */
  static load(
    rt: BpfRuntime,
    shared: SharedMaps,
    cgroupV1Ssid: number,
    logger: Logger,
  ): PolicyEngine {
    const load = (reuseMaps: Record<string, number>) =>
      BpfObject.load(rt, POLICY_OBJECT, {
        name: "policy.bpf.o",
        reuseMaps,
        rodata: (view) => {
          const cfg = RODATA["policy.bpf.o"].cfg.offset;
          view.setInt32(
            cfg + STRUCTS.vigil_process_config.fields.cgroup_v1_ssid.offset,
            cgroupV1Ssid,
            true,
          );
        },
      });
    const object = load({
      events: shared.events,
      exec_binaries: shared.exec_binaries,
      counters: shared.counters,
      ...(shared.exec_keys === undefined ? {} : { exec_keys: shared.exec_keys }),
    });
    return new PolicyEngine(rt, object, logger, load);
  }

  /** Mounts tracefs if needed (classic tracepoints are attached by their tracefs id). */
  ensureTracefs(): void {
    if (isMounted(TRACEFS_FS)) return;
    const rc = this.#rt.libc.mount(
      cString("nodev"),
      cString(TRACEFS),
      cString("tracefs"),
      0n,
      null,
    );
    if (rc !== 0) {
      throw new Error(`cannot mount tracefs at ${TRACEFS}: ${errnoName(readErrno(this.#rt.libc))}`);
    }
    this.#mountedTracefs = true;
    this.#logger.info("mounted tracefs for classic tracepoints", { target: TRACEFS });
  }

  /** A free hook slot, or throws when all are in use. */
  allocHook(): number {
    const id = this.#free.pop();
    if (id === undefined) throw new Error(`all ${MAX_HOOKS - 1} policy hook slots are in use`);
    return id;
  }

  /** A fresh set id (never reused, so a replaced policy's entries cannot alias a new one's). */
  allocSetId(): number {
    return this.#nextSetId++;
  }

  /** Writes a hook's configuration (one struct vigil_hook). */
  writeHook(id: number, bytes: Uint8Array<ArrayBuffer>): void {
    if (bytes.length !== STRUCTS.vigil_hook.size) {
      throw new Error(`hook config of ${bytes.length} bytes, expected ${STRUCTS.vigil_hook.size}`);
    }
    this.#hooks.update(u32Key(id), bytes);
  }

  /** Clears a hook slot and returns it to the free list (its link must be closed already). */
  releaseHook(id: number): void {
    this.#hooks.update(u32Key(id), new Uint8Array(STRUCTS.vigil_hook.size));
    this.#free.push(id);
    const at = this.#hookAt.get(id);
    if (at) {
      this.#hookAt.delete(id);
      this.#attached.get(at.tracepoint)?.delete(at.instance);
    }
  }

  /** Adds a hook's set entries. */
  addSets(sets: SetEntries): void {
    const one = new Uint8Array([1]);
    for (const key of sets.str) this.#sets.str.update(copy(key), one);
    for (const key of sets.lpm) this.#sets.lpm.update(copy(key), one);
    for (const key of sets.int) this.#sets.int.update(copy(key), one);
  }

  /** Removes a hook's set entries (absent ones are fine). */
  removeSets(sets: SetEntries): void {
    for (const key of sets.str) this.#sets.str.delete(copy(key));
    for (const key of sets.lpm) this.#sets.lpm.delete(copy(key));
    for (const key of sets.int) this.#sets.int.delete(copy(key));
  }

  /**
   * Attaches the generic program to `category/name` for hook `id`: the first instance not yet
   * attached there (loading one more when all are).
   */
  attach(id: number, category: string, name: string): BpfLink {
    const tracepoint = `${category}/${name}`;
    const used = this.#attached.get(tracepoint) ?? new Set<number>();
    let instance = 0;
    while (used.has(instance)) instance++;
    const link = this.#instance(instance, tracepoint).attachTracepoint(
      PROGRAM,
      category,
      name,
      BigInt(id),
    );
    used.add(instance);
    this.#attached.set(tracepoint, used);
    this.#hookAt.set(id, { tracepoint, instance });
    return link;
  }

  #instance(index: number, tracepoint: string): BpfObject {
    while (this.#instances.length <= index) {
      const reuse: Record<string, number> = {};
      for (const name of OBJECT_MAPS) reuse[name] = this.#object.map(name).fd;
      this.#instances.push(this.#loadInstance(reuse));
      this.#logger.info("policy engine: loaded another program instance", {
        instances: this.#instances.length,
        reason: `${tracepoint} already runs the other instances' program (hooks of several ` +
          `policies, or two versions of one, on one tracepoint)`,
      });
    }
    return this.#instances[index]!;
  }

  /** The kernel counters of hook `id`, summed over CPUs. */
  counters(id: number): HookCounters {
    const cpus = Math.max(this.#rt.libbpf.libbpf_num_possible_cpus(), 1);
    const size = STRUCTS.vigil_hook_counters.size;
    const values = new Uint8Array(size * cpus);
    this.#counters.lookup(u32Key(id), values);
    const view = new DataView(values.buffer);
    const f = STRUCTS.vigil_hook_counters.fields;
    const sum = (offset: number) => {
      let total = 0;
      for (let cpu = 0; cpu < cpus; cpu++) {
        total += Number(view.getBigUint64(cpu * size + offset, true));
      }
      return total;
    };
    return {
      seen: sum(f.seen.offset),
      posted: sum(f.posted.offset),
      filtered: sum(f.filtered.offset),
      rateLimited: sum(f.rate_limited.offset),
      signals: sum(f.signals.offset),
      monitorSkipped: sum(f.monitor_skipped.offset),
      drops: sum(f.drops.offset),
    };
  }

  /** Zeroes hook `id`'s counters (a reused slot starts from zero). */
  resetCounters(id: number): void {
    const cpus = Math.max(this.#rt.libbpf.libbpf_num_possible_cpus(), 1);
    this.#counters.update(u32Key(id), new Uint8Array(STRUCTS.vigil_hook_counters.size * cpus));
  }

  /** The program's fd (for run-time statistics), of the first instance. */
  programFd(): number {
    return this.#object.programFd(PROGRAM);
  }

  /** The fds of every loaded copy of the program (one per hook sharing a tracepoint). */
  programFds(): number[] {
    return this.#instances.map((o) => o.programFd(PROGRAM));
  }

  /** Detaches everything, frees the objects, unmounts tracefs if it mounted it. */
  close(): void {
    for (const object of this.#instances.slice(1).reverse()) object.close();
    this.#object.close();
    if (this.#mountedTracefs) {
      this.#rt.libc.umount2(cString(TRACEFS), 0);
      this.#mountedTracefs = false;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function u32Key(id: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new Uint32Array([id]).buffer);
}

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
