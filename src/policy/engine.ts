/**
 * The kernel side of the policy engine: owns the policy objects (one entry program per mechanism
 * over one selector engine, see the mechanism table), their shared maps and one link per attached
 * hook. It shares the events ring buffer and the exec_binaries map with the process object, so
 * policy events arrive in the same stream. Classic tracepoints need tracefs: the engine mounts it
 * when absent and unmounts what it mounted at close.
 *
 * Hook slots and set ids are allocated here; the manager decides what goes in them.
 *
 * Every attach point (a tracepoint, a kernel function, an LSM hook) gets one attached program and
 * an attach slot, the list of hooks that program runs (the attach_hooks map): the hooks of every
 * policy there, and the old and new version of a replaced policy during the swap, share it. A new
 * hook at a known point is one map write, no load and no attach. Tracepoint and kprobe programs
 * are loaded once and attached at every point with the slot as the attach cookie (the first
 * tracepoint copy owns the maps; every other load reuses them); another copy is loaded only for
 * a point whose slot is full, as the kernel attaches a program once per tracepoint (EEXIST).
 * fentry, fexit and LSM programs are bound to their target at load: one copy per target, its
 * slot in .rodata.
 *
 * @module
 */
import { POLICY_RATE_LIMIT_ENTRIES } from "../bpf/sizing.ts";
import { ENUMS, RODATA, STRUCTS } from "../bpf/abi.gen.ts";
import type { MapHandle } from "../bpf/map.ts";
import { BpfObject, type LoadOptions } from "../bpf/object.ts";
import { KernelBtf } from "../bpf/btf.ts";
import { POLICY_OBJECTS } from "../bpf/objects.ts";
import type { BpfRuntime } from "../bpf/runtime.ts";
import { cString } from "../ffi/libbpf.ts";
import { errnoName, readErrno } from "../ffi/libc.ts";
import { isMounted, TRACEFS as TRACEFS_FS } from "../kernel/mounts.ts";
import type { Logger } from "../log/logger.ts";
import {
  type Attachment,
  type AttachPoint,
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
  "entry_args",
] as const;

/** Loads one policy object against maps it shares (`only`: one program of it, for a slot). */
type LoadObject = (file: string, reuseMaps: Record<string, number>, only?: LoadFor) => BpfObject;

/** Loads the engine's later objects (per-target and shared copies) on this thread. */
function loaderFor(rt: BpfRuntime, cgroupV1Ssid: number): LoadObject {
  return (file, reuseMaps, only) =>
    BpfObject.load(rt, ...objectToLoad(file, reuseMaps, cgroupV1Ssid, only));
}

/** The shared maps as the reuse list of the engine's first object. */
function sharedReuse(shared: SharedMaps): Record<string, number> {
  return {
    events: shared.events,
    exec_binaries: shared.exec_binaries,
    counters: shared.counters,
    ...(shared.exec_keys === undefined ? {} : { exec_keys: shared.exec_keys }),
  };
}

/** The bytes and load options of policy object `file` (the engine's knobs in its rodata). */
function objectToLoad(
  file: string,
  reuseMaps: Record<string, number>,
  cgroupV1Ssid: number,
  only?: LoadFor,
): [Uint8Array, LoadOptions] {
  const bytes = POLICY_OBJECTS[file];
  if (bytes === undefined) throw new Error(`no policy object ${file} in this build`);
  const fields = STRUCTS.vigil_process_config.fields;
  return [bytes, {
    name: only?.slot ? `${file} (attach slot ${only.slot})` : file,
    reuseMaps,
    ...(only === undefined ? {} : {
      autoload: Object.fromEntries(
        only.programs.map((p) => [
          p,
          p === only.choice.program || (only.choice.companions ?? []).includes(p),
        ]),
      ),
      ...(only.choice.target === undefined
        ? {}
        : { attachTargets: { [only.choice.program]: only.choice.target } }),
    }),
    // Preallocated: 65536 entries cost 8 MiB of kernel memory whether or not any policy
    // rate-limits (see src/bpf/sizing.ts).
    maxEntries: { rate_limits: POLICY_RATE_LIMIT_ENTRIES },
    rodata: (view) => {
      const cfg = RODATA[file as keyof typeof RODATA];
      if (cfg === undefined || !("cfg" in cfg)) throw new Error(`${file} has no cfg`);
      const at = cfg.cfg.offset;
      view.setInt32(at + fields.cgroup_v1_ssid.offset, cgroupV1Ssid, true);
      view.setUint32(at + fields.policy_hook.offset, only?.slot ?? 0, true);
      view.setUint32(at + fields.policy_ret_slot.offset, only?.retSlot ?? 0, true);
    },
  }];
}

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
  /** Loaded copies of the shared programs (`object|program`), with the points each is at. */
  readonly #copies = new Map<string, SharedCopy[]>();
  readonly #loadObject: LoadObject;
  /** `object|program|attach key` → the attachments there (another when one's slot is full). */
  readonly #points = new Map<string, AttachedPoint[]>();
  /** kprobe_multi groups, by the function list their hooks share (one link each). */
  readonly #groups = new Map<readonly string[], MultiGroup>();
  #groupSeq = 0;
  readonly #attachHooks: MapHandle;
  /** Free attach slots, oldest first (a slot just cleared is reused last). */
  readonly #freeSlots: number[] = [];
  #btf: KernelBtf | null = null;
  /** Set by close(): hook links closed after it have nothing left to detach. */
  #closed = false;
  readonly #hooks: MapHandle;
  readonly #counters: MapHandle;
  readonly #buckets: MapHandle;
  readonly #sets: { str: MapHandle; lpm: MapHandle; int: MapHandle };
  /**
   * Free hook ids, oldest first: a program that read an attach slot just before it changed may
   * still run a hook id it found there, so a released id is reused last.
   */
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
    loadObject: LoadObject,
  ) {
    this.#rt = rt;
    this.#object = object;
    this.#copies.set(`${TRACEPOINT_PROGRAM.object}|${TRACEPOINT_PROGRAM.names[0]}`, [
      { object, at: new Set() },
    ]);
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
    // Hook 0 and slot 0 are never used: 0 marks a free position and an unset cookie.
    for (let id = 1; id < MAX_HOOKS; id++) this.#free.push(id);
    this.#attachHooks = object.map("attach_hooks");
    for (let slot = 1; slot < MAX_HOOKS; slot++) this.#freeSlots.push(slot);
  }

  /** Loads the tracepoint object (the maps' owner) against the process object's shared maps. */
  static load(
    rt: BpfRuntime,
    shared: SharedMaps,
    cgroupV1Ssid: number,
    logger: Logger,
  ): PolicyEngine {
    const load = loaderFor(rt, cgroupV1Ssid);
    const object = load(TRACEPOINT_PROGRAM.object, sharedReuse(shared));
    return new PolicyEngine(rt, object, logger, load);
  }

  /**
   * {@link PolicyEngine.load} with the kernel's verification on another thread, so that start-up
   * goes on meanwhile; libbpf's messages must be off until it settles (BpfRuntime.quiet). A
   * failure says only the errno: loading again with {@link PolicyEngine.load} explains it.
   */
  static async loadInBackground(
    rt: BpfRuntime,
    shared: SharedMaps,
    cgroupV1Ssid: number,
    logger: Logger,
  ): Promise<PolicyEngine> {
    const object = BpfObject.open(
      rt,
      ...objectToLoad(TRACEPOINT_PROGRAM.object, sharedReuse(shared), cgroupV1Ssid),
    );
    try {
      await object.loadInBackground();
    } catch (err) {
      object.close();
      throw err;
    }
    return new PolicyEngine(rt, object, logger, loaderFor(rt, cgroupV1Ssid));
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
    const id = this.#free.shift();
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
   * Attaches hook `id` at `at` through `mechanism`'s entry program: into the attach slot of the
   * program already attached there (one map write), else through a new attachment (loading a
   * program only when no loaded copy can attach there). Closing the result detaches the hook
   * alone; the attachment goes with its last hook.
   */
  attach(id: number, mechanism: Mechanism, at: AttachPoint): HookLink {
    this.#generation.set(id, ++this.#attaches);
    const program = mechanismRow(mechanism).program;
    if (program === null) {
      throw new Error(`vigil's policy engine has no ${mechanism} program yet`);
    }
    if (program.needs === "tracefs") this.ensureTracefs();
    if (at.kind === "kprobe_multi") return this.#joinGroup(id, program, at);
    const choice = program.select(at);
    const attachKey = program.attachKey(at);
    const key = `${program.object}|${choice.program}|${attachKey}`;
    const points = this.#points.get(key) ?? [];
    let point = points.find((p) => p.ids.includes(0));
    if (point === undefined) {
      point = this.#attachPoint(id, key, program, choice, at);
      points.push(point);
      this.#points.set(key, points);
    } else {
      point.ids[point.ids.indexOf(0)] = id;
      this.#writeSlot(point);
    }
    const joined = point;
    let open = true;
    return {
      close: () => {
        // After the engine's close everything is detached and its maps are gone.
        if (!open || this.#closed) return;
        open = false;
        joined.ids[joined.ids.indexOf(id)] = 0;
        if (joined.ids.some((x) => x !== 0)) {
          this.#writeSlot(joined);
          return;
        }
        joined.link.close();
        joined.own?.close();
        joined.copy?.at.delete(attachKey);
        this.#clearSlot(joined.slot);
        points.splice(points.indexOf(joined), 1);
        if (points.length === 0) this.#points.delete(key);
      },
    };
  }

  /**
   * Hook `id` joins the kprobe_multi group of `at.functions`: the first hook of the group attaches
   * one link for all its functions, each with a fresh slot of its own (never a single-point
   * attachment's, so a hook runs once per call); the link and the slots go with the last hook.
   */
  #joinGroup(
    id: number,
    program: EntryProgram,
    at: Extract<AttachPoint, { kind: "kprobe_multi" }>,
  ): HookLink {
    const group = this.#groups.get(at.functions) ?? this.#openGroup(program, at);
    const point = group.points.get(at.function);
    const pos = point?.ids.indexOf(0) ?? -1;
    if (point === undefined || pos < 0) {
      if (group.joined === 0) this.#closeGroup(at.functions, group);
      throw new Error(
        point === undefined
          ? `${at.function} is not in its kprobe_multi group`
          : `the kprobe_multi slot of ${at.function} is full`,
      );
    }
    point.ids[pos] = id;
    this.#writeSlot(point);
    group.joined++;
    let open = true;
    return {
      close: () => {
        if (!open || this.#closed) return;
        open = false;
        point.ids[point.ids.indexOf(id)] = 0;
        this.#writeSlot(point);
        if (--group.joined === 0) this.#closeGroup(at.functions, group);
      },
    };
  }

  /** Attaches one kprobe_multi link for `at.functions` (no hooks yet); cleans up if it fails. */
  #openGroup(
    program: EntryProgram,
    at: Extract<AttachPoint, { kind: "kprobe_multi" }>,
  ): MultiGroup {
    const functions = [...new Set(at.functions)];
    const points = new Map<string, { slot: number; ids: number[] }>();
    const choice = program.select(at);
    const attachKey = `group#${++this.#groupSeq}`;
    try {
      for (const fn of functions) {
        const slot = this.#freeSlots.shift();
        if (slot === undefined) throw new Error(`all ${MAX_HOOKS - 1} attach slots are in use`);
        const point = { slot, ids: new Array<number>(MAX_SHARED).fill(0) };
        points.set(fn, point);
        this.#writeSlot(point);
      }
      const key = `${program.object}|${choice.program}|${attachKey}`;
      const copy = this.#sharedCopy(program, choice, attachKey, key);
      const link = copy.object.attachKprobeMulti(
        choice.program,
        functions,
        functions.map((fn) => BigInt(points.get(fn)!.slot)),
      );
      copy.at.add(attachKey);
      const group: MultiGroup = {
        link,
        copy,
        attachKey,
        program: choice.program,
        points,
        joined: 0,
      };
      this.#groups.set(at.functions, group);
      this.#logger.info("policy engine: attached a kprobe_multi link", {
        functions: functions.length,
      });
      return group;
    } catch (err) {
      for (const p of points.values()) this.#clearSlot(p.slot);
      throw err;
    }
  }

  #closeGroup(functions: readonly string[], group: MultiGroup): void {
    group.link.close();
    group.copy.at.delete(group.attachKey);
    for (const p of group.points.values()) this.#clearSlot(p.slot);
    this.#groups.delete(functions);
  }

  /** Whether the kernel's BTF has function `name` (what fentry, fexit and LSM attach to). */
  functionInBtf(name: string): boolean {
    this.#btf ??= new KernelBtf(this.#rt);
    return this.#btf.functionArgCount(name) !== undefined;
  }

  /** A new attachment at `at` in a fresh slot that runs hook `id`. */
  #attachPoint(
    id: number,
    key: string,
    program: EntryProgram,
    choice: ProgramChoice,
    at: AttachPoint,
  ): AttachedPoint {
    const slot = this.#freeSlots.shift();
    if (slot === undefined) throw new Error(`all ${MAX_HOOKS - 1} attach slots are in use`);
    const ids: number[] = new Array(MAX_SHARED).fill(0);
    ids[0] = id;
    let own: BpfObject | undefined;
    try {
      // The slot is written before the attach: the first call finds its hook.
      this.#writeSlot({ slot, ids });
      if (program.copies === "per-target") {
        own = this.#load(key, program, { slot, programs: program.names, choice, retSlot: 0 });
        const link = program.attach(own, choice.program, at, BigInt(slot));
        return { slot, program: choice.program, link, ids, own };
      }
      const copy = this.#sharedCopy(program, choice, program.attachKey(at), key);
      const link = program.attach(copy.object, choice.program, at, BigInt(slot));
      copy.at.add(program.attachKey(at));
      return { slot, program: choice.program, link, ids, copy };
    } catch (err) {
      own?.close();
      this.#clearSlot(slot);
      throw err;
    }
  }

  /** A loaded copy of a shared program not yet attached at `attachKey` (loads one if none). */
  #sharedCopy(
    program: EntryProgram,
    choice: ProgramChoice,
    attachKey: string,
    key: string,
  ): SharedCopy {
    const name = `${program.object}|${choice.program}`;
    const copies = this.#copies.get(name) ?? [];
    this.#copies.set(name, copies);
    const free = copies.find((c) => !c.at.has(attachKey));
    if (free !== undefined) return free;
    const object = this.#load(key, program, {
      slot: 0,
      programs: program.names,
      choice,
      retSlot: 0,
    });
    const made = { object, at: new Set<string>() };
    copies.push(made);
    return made;
  }

  /** Loads `program` for `choice` against the engine's maps, logging what it cost. */
  #load(key: string, program: EntryProgram, only: LoadFor): BpfObject {
    let retSlot = 0;
    if (only.choice.returnOf !== undefined) {
      this.#btf ??= new KernelBtf(this.#rt);
      const n = this.#btf.functionArgCount(only.choice.returnOf);
      if (n === undefined) {
        throw new Error(`the kernel's BTF has no function ${only.choice.returnOf}`);
      }
      retSlot = n;
    }
    const reuse: Record<string, number> = {};
    for (const name of OBJECT_MAPS) reuse[name] = this.#object.map(name).fd;
    const started = performance.now();
    const object = this.#loadObject(program.object, reuse, { ...only, retSlot });
    this.#logger.info("policy engine: loaded a program", {
      program: only.choice.program,
      point: key,
      load_ms: Math.round(performance.now() - started),
      reason: program.copies === "per-target"
        ? "bound to its target at load"
        : "no loaded copy can attach there (a tracepoint takes a program once)",
    });
    return object;
  }

  #writeSlot(point: { readonly slot: number; readonly ids: readonly number[] }): void {
    const f = STRUCTS.vigil_attach_hooks.fields;
    const bytes = new Uint8Array(STRUCTS.vigil_attach_hooks.size);
    const view = new DataView(bytes.buffer);
    view.setUint32(f.n.offset, point.ids.filter((x) => x !== 0).length, true);
    point.ids.forEach((id, i) => view.setUint32(f.ids.offset + 4 * i, id, true));
    this.#attachHooks.update(u32Key(point.slot), bytes);
  }

  #clearSlot(slot: number): void {
    this.#attachHooks.update(u32Key(slot), new Uint8Array(STRUCTS.vigil_attach_hooks.size));
    this.#freeSlots.push(slot);
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
   * The program fd that runs hook `id` (shared by the other hooks of its attach point and, for
   * tracepoints and kprobes, of every point), for the budget guard's run-time attribution.
   */
  hookProgramFd(id: number): number | undefined {
    for (const points of this.#points.values()) {
      const point = points.find((p) => p.ids.includes(id));
      if (point === undefined) continue;
      const object = point.own ?? point.copy?.object;
      return object?.programFd(point.program);
    }
    for (const group of this.#groups.values()) {
      for (const p of group.points.values()) {
        if (p.ids.includes(id)) return group.copy.object.programFd(group.program);
      }
    }
    return undefined;
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
   * Every loaded program copy, for run-time statistics: `vigil_policy`, `vigil_kprobe`, then
   * `vigil_policy#1`, ... for extra copies of a shared program, and `vigil_fentry#<slot>` for a
   * program bound to one target.
   */
  programs(): { name: string; fd: number }[] {
    const out: { name: string; fd: number }[] = [];
    for (const [key, copies] of this.#copies) {
      const name = key.slice(key.indexOf("|") + 1);
      copies.forEach((c, i) =>
        out.push({ name: i ? `${name}#${i}` : name, fd: c.object.programFd(name) })
      );
    }
    for (const points of this.#points.values()) {
      for (const p of points) {
        if (p.own) out.push({ name: `${p.program}#${p.slot}`, fd: p.own.programFd(p.program) });
      }
    }
    return out;
  }

  /** Maps of every loaded instance, with fds (shared maps repeat: count each kernel map once). */
  maps(): { name: string; fd: number }[] {
    return this.#objects().flatMap((o) => o.maps());
  }

  /** How many programs are loaded and attached, and how many hooks they run (status, benches). */
  footprint(): { loaded: number; attachments: number; hooks: number } {
    const points = [...this.#points.values()].flat();
    const groups = [...this.#groups.values()];
    return {
      loaded: this.#objects().length,
      attachments: points.length + groups.length,
      hooks: points.reduce((n, p) => n + p.ids.filter((x) => x !== 0).length, 0) +
        groups.reduce((n, g) => n + g.joined, 0),
    };
  }

  #objects(): BpfObject[] {
    return [
      ...[...this.#copies.values()].flat().map((c) => c.object),
      ...[...this.#points.values()].flat().flatMap((p) => p.own ? [p.own] : []),
    ];
  }

  /** Detaches everything, frees the objects, unmounts tracefs if it mounted it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const points of this.#points.values()) for (const p of points) p.own?.close();
    this.#points.clear();
    this.#groups.clear(); // their links belong to the shared copies closed below
    this.#btf?.close();
    this.#btf = null;
    for (const copies of [...this.#copies.values()].reverse()) {
      for (const c of copies.slice().reverse()) if (c.object !== this.#object) c.object.close();
    }
    this.#copies.clear();
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

/** A hook's hold on the program that runs it; close detaches that hook alone. */
export interface HookLink {
  close(): void;
}

/** A loaded copy of a shared program and the attach keys it is attached at (once each). */
interface SharedCopy {
  readonly object: BpfObject;
  readonly at: Set<string>;
}

/** One attached program at one attach point, and the hooks it runs. */
interface AttachedPoint {
  /** Its entry in the attach_hooks map (the attach cookie, or cfg.policy_hook). */
  readonly slot: number;
  readonly program: string;
  readonly link: Attachment;
  /** Hook ids by position in the slot (0: free); positions hold while a hook lives. */
  readonly ids: number[];
  /** A program bound to this point's target at load: closed with the point. */
  readonly own?: BpfObject;
  /** The shared copy attached here. */
  readonly copy?: SharedCopy;
}

/** One kprobe_multi link and the slots of its functions. */
interface MultiGroup {
  readonly link: Attachment;
  readonly copy: SharedCopy;
  readonly attachKey: string;
  readonly program: string;
  readonly points: Map<string, { readonly slot: number; readonly ids: number[] }>;
  /** Hooks in the group: the link goes with the last. */
  joined: number;
}

const MAX_SHARED = ENUMS.vigil_policy_limits.VIGIL_MAX_SHARED_HOOKS;

/** What a program copy is loaded with, beyond the shared maps. */
interface LoadFor {
  /** The attach slot of a program bound to one target (cfg.policy_hook); 0 for shared ones. */
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
