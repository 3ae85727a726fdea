/**
 * The kernel side of the policy engine: owns the policy objects (one entry program per mechanism
 * over one selector engine, see the mechanism table), their shared maps and one link per attached
 * hook. It shares the events ring buffer and the exec_binaries map with the process object, so
 * policy events arrive in the same stream. Classic tracepoints need tracefs: the engine mounts it
 * when absent and unmounts what it mounted at close.
 *
 * Hook slots and set ids are allocated here; the manager decides what goes in them.
 *
 * The first object loaded (the tracepoint one) creates the maps; every other object and copy
 * reuses them. A program is attached at most once per attach key (the kernel refuses a second
 * attach of one program to one tracepoint with EEXIST), so when hooks of several policies (or the
 * old and new version of a replaced policy) share one, the engine loads another copy of the
 * object: the n-th hook on an attach key runs the n-th copy's program. Copies are loaded on first
 * need and kept.
 *
 * @module
 */
import { POLICY_RATE_LIMIT_ENTRIES } from "../bpf/sizing.ts";
import { ENUMS, RODATA, STRUCTS } from "../bpf/abi.gen.ts";
import type { BpfLink } from "../bpf/link.ts";
import type { MapHandle } from "../bpf/map.ts";
import { BpfObject } from "../bpf/object.ts";
import { KernelBtf } from "../bpf/btf.ts";
import { POLICY_OBJECTS } from "../bpf/objects.ts";
import type { BpfRuntime } from "../bpf/runtime.ts";
import { cString } from "../ffi/libbpf.ts";
import { errnoName, readErrno } from "../ffi/libc.ts";
import { isMounted, TRACEFS as TRACEFS_FS } from "../kernel/mounts.ts";
import type { Logger } from "../log/logger.ts";
import {
  type AttachPoint,
  ENTRY_PROGRAMS,
  type EntryProgram,
  type Mechanism,
  mechanismRow,
  type ProgramChoice,
  TRACEPOINT_PROGRAM,
} from "./mechanisms/mod.ts";

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

/** Every map of the policy objects (all but their .rodata): later loads share them all. */
const OBJECT_MAPS = [
  "attach_hooks",
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
  "budget_buckets",
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
  /** Ring buffer full. */
  drops: number;
  argsRejected: number;
  budgetDropped: number;
  noPost: number;
  shadowMatched: number;
  /** `filtered`, by the process filter that turned the first selector down. */
  filteredBy: { pid: number; namespace: number; capability: number; binary: number };
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
  /** The object that owns the maps (the tracepoint program's first copy). */
  readonly #object: BpfObject;
  /** Loaded copies per object file: [0] first, more when hooks share an attach key. */
  readonly #copies = new Map<string, BpfObject[]>();
  readonly #loadObject: (
    file: string,
    reuseMaps: Record<string, number>,
    one?: OneHook,
  ) => BpfObject;
  /**
   * Function and LSM programs, one loaded copy per attach point (program and target), shared by
   * the hooks there: `object|program|target` → its copies (another when one is full).
   */
  readonly #points = new Map<string, AttachPointProgram[]>();
  readonly #attachHooks: MapHandle;
  readonly #freeSlots: number[] = [];
  #btf: KernelBtf | null = null;
  /** `object|attach key` → indexes of the copies attached there. */
  readonly #attached = new Map<string, Set<number>>();
  /** Hook id → where its link is, until the hook is released. */
  readonly #hookAt = new Map<number, { key: string; copy: number }>();
  readonly #hooks: MapHandle;
  readonly #counters: MapHandle;
  readonly #buckets: MapHandle;
  readonly #sets: { str: MapHandle; lpm: MapHandle; int: MapHandle };
  readonly #free: number[] = [];
  /** Hook id → its attach generation: a reused slot is a different hook to the budget meter. */
  readonly #generation = new Map<number, number>();
  #attaches = 0;
  #nextSetId = 1;
  #mountedTracefs = false;
  readonly #logger: Logger;

  private constructor(
    rt: BpfRuntime,
    object: BpfObject,
    logger: Logger,
    loadObject: (file: string, reuseMaps: Record<string, number>, one?: OneHook) => BpfObject,
  ) {
    this.#rt = rt;
    this.#object = object;
    this.#copies.set(TRACEPOINT_PROGRAM.object, [object]);
    this.#loadObject = loadObject;
    this.#logger = logger;
    this.#hooks = object.map("hooks");
    this.#counters = object.map("hook_counters");
    this.#buckets = object.map("budget_buckets");
    this.#sets = {
      str: object.map("str_sets"),
      lpm: object.map("lpm_sets"),
      int: object.map("int_sets"),
    };
    // Hook 0 is never used: an unset cookie reads as 0.
    for (let id = MAX_HOOKS - 1; id >= 1; id--) this.#free.push(id);
    this.#attachHooks = object.map("attach_hooks");
    for (let slot = MAX_HOOKS - 1; slot >= 1; slot--) this.#freeSlots.push(slot);
  }

  /** Loads the tracepoint object (the maps' owner) against the process object's shared maps. */
  static load(
    rt: BpfRuntime,
    shared: SharedMaps,
    cgroupV1Ssid: number,
    logger: Logger,
  ): PolicyEngine {
    const load = (file: string, reuseMaps: Record<string, number>, one?: OneHook) => {
      const bytes = POLICY_OBJECTS[file];
      if (bytes === undefined) throw new Error(`no policy object ${file} in this build`);
      const fields = STRUCTS.vigil_process_config.fields;
      return BpfObject.load(rt, bytes, {
        name: one === undefined ? file : `${file} (attach slot ${one.slot})`,
        reuseMaps,
        ...(one === undefined ? {} : {
          autoload: Object.fromEntries(one.programs.map((p) => [p, p === one.choice.program])),
          ...(one.choice.target === undefined
            ? {}
            : { attachTargets: { [one.choice.program]: one.choice.target } }),
        }),
        // Preallocated: 65536 entries cost 8 MiB of kernel memory whether or not any policy
        // rate-limits (see src/bpf/sizing.ts).
        maxEntries: { rate_limits: POLICY_RATE_LIMIT_ENTRIES },
        rodata: (view) => {
          const cfg = RODATA[file as keyof typeof RODATA];
          if (cfg === undefined || !("cfg" in cfg)) throw new Error(`${file} has no cfg`);
          const at = cfg.cfg.offset;
          view.setInt32(at + fields.cgroup_v1_ssid.offset, cgroupV1Ssid, true);
          view.setUint32(at + fields.policy_hook.offset, one?.slot ?? 0, true);
          view.setUint32(at + fields.policy_ret_slot.offset, one?.retSlot ?? 0, true);
        },
      });
    };
    const object = load(TRACEPOINT_PROGRAM.object, {
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
      this.#attached.get(at.key)?.delete(at.copy);
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
   * Attaches hook `id` at `at` through `mechanism`'s entry program. Shared programs: the first
   * copy not yet attached at that attach key (loading one more when all are). Function and LSM
   * programs: the copy already attached at that point (its hook list grows by one), else a new
   * one bound to the target. Closing the result detaches the hook alone.
   */
  attach(id: number, mechanism: Mechanism, at: AttachPoint): HookLink {
    this.#generation.set(id, ++this.#attaches);
    const program = mechanismRow(mechanism).program;
    if (program === null) {
      throw new Error(`vigil's policy engine has no ${mechanism} program yet`);
    }
    if (program.needs === "tracefs") this.ensureTracefs();
    const choice = program.select(at);
    if (program.copies === "per-hook") return this.#attachAtPoint(id, program, choice, at);
    const key = `${program.object}|${program.attachKey(at)}`;
    const used = this.#attached.get(key) ?? new Set<number>();
    let copy = 0;
    while (used.has(copy)) copy++;
    const link = program.attach(this.#copy(program, copy, key), choice.program, at, BigInt(id));
    used.add(copy);
    this.#attached.set(key, used);
    this.#hookAt.set(id, { key, copy });
    return link;
  }

  /** Whether the kernel's BTF has function `name` (what fentry, fexit and LSM attach to). */
  functionInBtf(name: string): boolean {
    this.#btf ??= new KernelBtf(this.#rt);
    return this.#btf.functionArgCount(name) !== undefined;
  }

  #attachAtPoint(
    id: number,
    program: EntryProgram,
    choice: ProgramChoice,
    at: AttachPoint,
  ): HookLink {
    const key = `${program.object}|${choice.program}|${program.attachKey(at)}`;
    const points = this.#points.get(key) ?? [];
    this.#points.set(key, points);
    let point = points.find((p) => p.hooks.length < MAX_SHARED);
    if (point === undefined) {
      point = this.#loadPoint(id, key, program, choice, at);
      points.push(point);
    } else {
      point.hooks.push(id);
      this.#writeAttachHooks(point);
    }
    const shared = point;
    let open = true;
    return {
      close: () => {
        if (!open) return;
        open = false;
        shared.hooks.splice(shared.hooks.indexOf(id), 1);
        if (shared.hooks.length > 0) {
          this.#writeAttachHooks(shared);
          return;
        }
        shared.link.close();
        shared.object.close();
        this.#clearSlot(shared.slot);
        points.splice(points.indexOf(shared), 1);
        if (points.length === 0) this.#points.delete(key);
      },
    };
  }

  /** Loads and attaches a program for one attach point, running hook `id` first. */
  #loadPoint(
    id: number,
    key: string,
    program: EntryProgram,
    choice: ProgramChoice,
    at: AttachPoint,
  ): AttachPointProgram {
    let retSlot = 0;
    if (choice.returnOf !== undefined) {
      this.#btf ??= new KernelBtf(this.#rt);
      const n = this.#btf.functionArgCount(choice.returnOf);
      if (n === undefined) throw new Error(`the kernel's BTF has no function ${choice.returnOf}`);
      retSlot = n;
    }
    const slot = this.#freeSlots.pop();
    if (slot === undefined) throw new Error(`all ${MAX_HOOKS - 1} attach slots are in use`);
    const reuse: Record<string, number> = {};
    for (const name of OBJECT_MAPS) reuse[name] = this.#object.map(name).fd;
    const started = performance.now();
    let object: BpfObject | undefined;
    try {
      const hooks = [id];
      this.#writeAttachHooks({ slot, hooks });
      object = this.#loadObject(program.object, reuse, {
        slot,
        programs: program.names,
        choice,
        retSlot,
      });
      const loadMs = performance.now() - started;
      const link = program.attach(object, choice.program, at, BigInt(id));
      this.#logger.info("policy engine: loaded a program for an attach point", {
        program: choice.program,
        point: key,
        load_ms: Math.round(loadMs),
      });
      return { slot, object, program: choice.program, link, hooks };
    } catch (err) {
      object?.close();
      this.#clearSlot(slot);
      throw err;
    }
  }

  #writeAttachHooks(point: { readonly slot: number; readonly hooks: readonly number[] }): void {
    const f = STRUCTS.vigil_attach_hooks.fields;
    const bytes = new Uint8Array(STRUCTS.vigil_attach_hooks.size);
    const view = new DataView(bytes.buffer);
    view.setUint32(f.n.offset, point.hooks.length, true);
    point.hooks.forEach((id, i) => view.setUint32(f.ids.offset + 4 * i, id, true));
    this.#attachHooks.update(u32Key(point.slot), bytes);
  }

  #clearSlot(slot: number): void {
    this.#attachHooks.update(u32Key(slot), new Uint8Array(STRUCTS.vigil_attach_hooks.size));
    this.#freeSlots.push(slot);
  }

  #copy(program: EntryProgram, index: number, key: string): BpfObject {
    const copies = this.#copies.get(program.object) ?? [];
    this.#copies.set(program.object, copies);
    while (copies.length <= index) {
      const reuse: Record<string, number> = {};
      for (const name of OBJECT_MAPS) reuse[name] = this.#object.map(name).fd;
      copies.push(this.#loadObject(program.object, reuse));
      if (copies.length > 1) {
        this.#logger.info("policy engine: loaded another program copy", {
          program: program.names[0],
          copies: copies.length,
          reason: `${key} already runs the other copies' program (hooks of several policies, ` +
            `or two versions of one, on one attach point)`,
        });
      }
    }
    return copies[index]!;
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
      argsRejected: sum(f.args_rejected.offset),
      budgetDropped: sum(f.budget_dropped.offset),
      noPost: sum(f.no_post.offset),
      shadowMatched: sum(f.shadow_matched.offset),
      filteredBy: {
        pid: sum(f.filtered_pid.offset),
        namespace: sum(f.filtered_namespace.offset),
        capability: sum(f.filtered_capability.offset),
        binary: sum(f.filtered_binary.offset),
      },
    };
  }

  /**
   * The program fd that runs hook `id` (shared by other hooks of its copy, on other attach
   * points), for the budget guard's run-time attribution.
   */
  hookProgramFd(id: number): number | undefined {
    for (const points of this.#points.values()) {
      const point = points.find((p) => p.hooks.includes(id));
      if (point) return point.object.programFd(point.program);
    }
    const at = this.#hookAt.get(id);
    if (!at) return undefined;
    const file = at.key.slice(0, at.key.indexOf("|"));
    const object = this.#copies.get(file)?.[at.copy];
    return object?.programFd(programOf(file));
  }

  /** Which attach of slot `id` this is (changes whenever the slot gets a new hook). */
  hookGeneration(id: number): number {
    return this.#generation.get(id) ?? 0;
  }

  /** The fds of every loaded program copy (shared and attach-point ones). */
  programFds(): number[] {
    return this.programs().map((p) => p.fd);
  }

  /** Zeroes hook `id`'s counters (a reused slot starts from zero). */
  resetCounters(id: number): void {
    const cpus = Math.max(this.#rt.libbpf.libbpf_num_possible_cpus(), 1);
    this.#counters.update(u32Key(id), new Uint8Array(STRUCTS.vigil_hook_counters.size * cpus));
    this.#buckets.update(
      u32Key(id),
      new Uint8Array(STRUCTS.vigil_budget_bucket.size * cpus),
    );
  }

  /**
   * Every loaded program copy, for run-time statistics: `vigil_policy`, then `vigil_policy#1`,
   * ... for the copies of hooks sharing an attach point.
   */
  programs(): { name: string; fd: number }[] {
    const out: { name: string; fd: number }[] = [];
    for (const [file, copies] of this.#copies) {
      const name = programOf(file);
      copies.forEach((o, i) =>
        out.push({ name: i ? `${name}#${i}` : name, fd: o.programFd(name) })
      );
    }
    for (const points of this.#points.values()) {
      for (const p of points) {
        out.push({ name: `${p.program}#${p.slot}`, fd: p.object.programFd(p.program) });
      }
    }
    return out;
  }

  /** Maps of every loaded instance, with fds (shared maps repeat: count each kernel map once). */
  maps(): { name: string; fd: number }[] {
    const objects = [
      ...[...this.#copies.values()].flat(),
      ...[...this.#points.values()].flat().map((p) => p.object),
    ];
    return objects.flatMap((o) => o.maps());
  }

  /** Detaches everything, frees the objects, unmounts tracefs if it mounted it. */
  close(): void {
    for (const points of this.#points.values()) for (const p of points) p.object.close();
    this.#points.clear();
    this.#btf?.close();
    this.#btf = null;
    for (const copies of [...this.#copies.values()].reverse()) {
      for (const object of copies.slice().reverse()) if (object !== this.#object) object.close();
    }
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

function programOf(file: string): string {
  const name = ENTRY_PROGRAMS.find((p) => p.object === file)?.names[0];
  if (name === undefined) throw new Error(`no entry program for ${file}`);
  return name;
}

/** A hook's hold on the program that runs it; close detaches that hook alone. */
export interface HookLink {
  close(): void;
}

/** A function or LSM program loaded for one attach point. */
interface AttachPointProgram {
  /** Its entry in the attach_hooks map (the program's cfg.policy_hook). */
  readonly slot: number;
  readonly object: BpfObject;
  readonly program: string;
  readonly link: BpfLink;
  /** The hooks it runs, in attach order (at most VIGIL_MAX_SHARED_HOOKS). */
  readonly hooks: number[];
}

const MAX_SHARED = ENUMS.vigil_policy_limits.VIGIL_MAX_SHARED_HOOKS;

/** What a copy for one attach point is loaded with. */
interface OneHook {
  /** The attach slot (cfg.policy_hook). */
  readonly slot: number;
  /** Every program of the object: only the chosen one loads. */
  readonly programs: readonly string[];
  readonly choice: ProgramChoice;
  /** fexit: the function's argument count (its return value follows the arguments). */
  readonly retSlot: number;
}

function u32Key(id: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new Uint32Array([id]).buffer);
}

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}
