/**
 * Plans `kprobes[]`/`fentries[]` hooks (one planned hook per call target, so `list:` calls expand)
 * and `lsmhooks[]`/`uprobes[]`. A syscall hook prefers fentry, then kprobe, then the syscall's own
 * tracepoints; a kernel function needs fentry or kprobe.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { syscallArgFields, type TracepointField } from "./tracepoint_format.ts";
import type { MechanismOption, PlannedArg, PlannedHook } from "./types.ts";
import type { CallTarget, HookArg, KprobeHook, LsmHook, UprobeHook } from "../spec/mod.ts";
import { placeholderArg, planArg } from "./args.ts";
import {
  eventOf,
  failedHook,
  finishHook,
  type HookParts,
  type PlanEnv,
  recordSize,
} from "./hook.ts";
import { IssueSink } from "./issues.ts";
import {
  explainChoice,
  functionCost,
  MECHANISM_NAMES,
  option,
  refusedOptions,
  syscallTracepointCost,
} from "./mechanism.ts";
import { planSelectors } from "./selectors.ts";
import { expandGenerated } from "./generated_lists.ts";

/**
 * Function mechanisms (fentry, fexit, kprobe, kretprobe) lay out their record as 8-byte slots:
 * arguments 0-5, then the return value in this slot (VIGIL_FUNC_RET_SLOT in bpf/lib/policy.h).
 */
const FUNC_RET_SLOT = 6;

/** Why a trampoline cannot attach to `fn` here: it is missing from the kernel's BTF. */
function notInBtf(env: PlanEnv, fn: string): string | undefined {
  if (env.facts.functionInBtf?.(fn) !== false) return undefined;
  return `${fn} is not in this kernel's BTF (a trampoline needs the function's prototype)`;
}

/** `__x64_sys_<entry>` or the bare name of a syscall target the table does not know. */
function syscallEntry(target: CallTarget): string {
  if (target.syscall !== undefined) return target.syscall.entry;
  return target.written.replace(/^(x64\/)?(__x64_)?sys_/, "");
}

/** What the syscall tracepoint mechanism needs: both tracepoints (exit only for `return`). */
function tracepointPrecondition(env: PlanEnv, entry: string, ret: boolean): string | undefined {
  const events = ret ? [`sys_enter_${entry}`, `sys_exit_${entry}`] : [`sys_enter_${entry}`];
  for (const event of events) {
    const r = env.facts.tracepointFormat("syscalls", event);
    if (r.error !== undefined) return r.error;
  }
  return undefined;
}

/** Plans every target of one kprobe/fentry hook. */
export function planKprobe(
  hook: KprobeHook,
  index: number,
  list: "kprobes" | "fentries",
  env: PlanEnv,
): PlannedHook[] {
  const expansion = expandGenerated(hook, env);
  if (expansion?.error !== undefined || (expansion === undefined && hook.targets.length === 0)) {
    const sink = new IssueSink(env.policy.file);
    const fn = hook.call;
    return [failedHook(
      {
        name: `${list}[${index}] ${hook.call}`,
        source: { list, index, at: hook.at, role: "entry" },
        options: [],
        cost: functionCost("kprobe", fn),
        event: eventOf(env, hook, { kind: "process_kprobe", fn }),
        monitor: env.monitor,
      },
      expansion?.error ??
        `${hook.call}: generated_ftrace lists (functions matched in available_filter_functions) ` +
          `are not expanded here`,
      sink,
    )];
  }
  const targets = expansion?.targets ?? hook.targets;
  const multi = multiGroup(hook, list, targets, env);
  const planned = targets.flatMap((t) => planTarget(hook, index, list, t, env, multi));
  const note = expansion?.note;
  if (note === undefined) return planned;
  // Said once, on the first hook of the list, so the plan shows where the targets came from.
  return planned.map((h, i) =>
    i === 0
      ? { ...h, warnings: [...h.warnings, { file: env.policy.file, ...hook.at, message: note }] }
      : h
  );
}

/**
 * From this many functions on, a kprobes hook's list goes through one kprobe_multi link where the
 * kernel has it: below it, per-function attachments cost little (one attach each, and the kprobe
 * program is loaded once); from 8 on, fentry would load and verify one program per function
 * (~0.1-0.4 s each) and kprobes make one perf event and link each, while kprobe_multi is one
 * program and one link registered with fprobe in a single ftrace update.
 */
export const KPROBE_MULTI_MIN_FUNCTIONS = 8;

/**
 * The function list a kprobes hook attaches as one kprobe_multi group, or undefined: entry hooks
 * only (a return probe needs its entry half's stash per function) without Override (it stays on
 * fmod_ret or is refused per function, with the reason), with at least
 * {@link KPROBE_MULTI_MIN_FUNCTIONS} functions, on a kernel with kprobe_multi links.
 */
function multiGroup(
  hook: KprobeHook,
  list: "kprobes" | "fentries",
  targets: readonly CallTarget[],
  env: PlanEnv,
): readonly string[] | undefined {
  if (list !== "kprobes" || hook.return || targets.length < KPROBE_MULTI_MIN_FUNCTIONS) {
    return undefined;
  }
  if (hook.selectors.some((s) => s.matchActions.some((a) => a.action === "Override"))) {
    return undefined;
  }
  if (!option(env.facts, "kprobe_multi").usable) return undefined;
  return targets.map((t) => hook.syscall ? `__x64_sys_${syscallEntry(t)}` : t.written);
}

function planTarget(
  hook: KprobeHook,
  index: number,
  list: "kprobes" | "fentries",
  target: CallTarget,
  env: PlanEnv,
  multi?: readonly string[],
): PlannedHook[] {
  const sink = new IssueSink(env.policy.file);
  const entry = syscallEntry(target);
  const fn = hook.syscall ? `__x64_sys_${entry}` : target.written;
  const options: MechanismOption[] = [option(env.facts, "fentry", notInBtf(env, fn))];
  if (multi !== undefined) options.unshift(option(env.facts, "kprobe_multi"));
  if (list === "kprobes") {
    options.push(option(env.facts, "kprobe"));
    if (hook.syscall) {
      options.push(
        option(env.facts, "syscall_tracepoint", tracepointPrecondition(env, entry, hook.return)),
      );
    }
  }
  const what = hook.syscall ? `the syscall ${entry}` : `the kernel function ${fn}`;
  const base = {
    name: `${list}[${index}] ${target.written}`,
    source: {
      list,
      index,
      at: hook.at,
      ...(hook.targets.length > 1 || hook.callList !== undefined ? { target: target.written } : {}),
      role: "entry" as const,
    },
    options,
    event: eventOf(
      env,
      hook,
      { kind: "process_kprobe", fn },
      hook.return ? hook.returnArg : undefined,
    ),
    monitor: env.monitor,
  };
  const chosen = options.find((o) => o.usable);
  if (chosen === undefined) {
    const tp = options.find((o) => o.mechanism === "syscall_tracepoint");
    if (hook.ignoreCallNotFound && tp !== undefined && tp.reason.includes("has no tracepoint")) {
      env.policySink.warn(
        hook.at,
        `${target.written} is skipped (ignore.callNotFound): ${tp.reason}`,
      );
      return [];
    }
    return [failedHook(
      { ...base, cost: functionCost("kprobe", fn) },
      `${list === "fentries" ? "fentry" : "kprobe"} on ${fn} cannot run on this kernel: ${
        refusedOptions(options)
      }`,
      sink,
    )];
  }
  if (hook.returnArgAction === "TrackSock" || hook.returnArgAction === "UntrackSock") {
    sink.error(
      hook.at,
      `returnArgAction ${hook.returnArgAction} keeps a socket-to-process map so later events on ` +
        `the returned socket are attributed to its owner; vigil's engine has no such map yet: ` +
        `not runnable`,
    );
  }
  const why = explainChoice(
    options,
    what,
    chosen.mechanism === "syscall_tracepoint"
      ? `its own tracepoint syscalls/sys_enter_${entry}${
        hook.return ? ` and sys_exit_${entry}` : ""
      }`
      : undefined,
  );
  if (chosen.mechanism === "syscall_tracepoint") {
    return syscallTracepointHooks(hook, entry, { ...base, why }, env, sink);
  }
  if (chosen.mechanism === "kprobe_multi" && multi !== undefined) {
    const planned = functionHook(
      hook,
      fn,
      false,
      { ...base, why: multiWhy(multi.length) },
      env,
      sink,
    );
    return [{
      ...planned,
      mechanism: "kprobe_multi",
      attach: { kind: "kprobe_multi", function: fn, functions: multi },
    }];
  }
  return [functionHook(hook, fn, chosen.mechanism === "fentry", { ...base, why }, env, sink)];
}

function multiWhy(n: number): string {
  return `kprobe_multi: the list has ${n} functions (>= ${KPROBE_MULTI_MIN_FUNCTIONS}), so one ` +
    `kprobe_multi link attaches them all (one program, one link) instead of ${n} fentry programs ` +
    `or kprobes`;
}

type Base = Pick<HookParts, "name" | "source" | "options" | "event" | "monitor" | "why">;

function fieldArg(
  arg: HookArg,
  role: PlannedArg["role"],
  field: TracepointField | undefined,
  desc: string,
  hook: KprobeHook,
  sink: IssueSink,
  missing: string,
): PlannedArg {
  if (field === undefined) {
    sink.error(arg.at, missing);
    return placeholderArg(arg, role);
  }
  const site = { field, desc, userPointers: true, mechanism: MECHANISM_NAMES.syscall_tracepoint };
  return planArg(arg, role, site, { args: hook.args, sink });
}

function syscallTracepointHooks(
  hook: KprobeHook,
  entry: string,
  base: Base,
  env: PlanEnv,
  sink: IssueSink,
): PlannedHook[] {
  const enter = env.facts.tracepointFormat("syscalls", `sys_enter_${entry}`).format;
  if (enter === undefined) return []; // checked by the precondition
  const fields = syscallArgFields(enter);
  const mechanism = MECHANISM_NAMES.syscall_tracepoint;
  const args = hook.args.map((a) =>
    fieldArg(
      a,
      "arg",
      fields[a.index],
      `syscalls/sys_enter_${entry} field "${fields[a.index]?.name}"`,
      hook,
      sink,
      `index ${a.index} is out of range: ${entry} has ${fields.length} arguments (format of ` +
        `syscalls/sys_enter_${entry})`,
    )
  );
  const selectors = planSelectors(
    hook.selectors,
    { sink, facts: env.facts, args, mechanism, kprobe: false },
    { kind: "entry" },
  );
  const { returnArg: _atExit, ...entryEvent } = base.event;
  const entryHook = finishHook(
    {
      ...base,
      mechanism: "syscall_tracepoint",
      attach: { kind: "tracepoint", subsystem: "syscalls", event: `sys_enter_${entry}` },
      cost: syscallTracepointCost(entry),
      exit: false,
      retOffset: 0,
      recSize: recordSize(enter, args),
      args,
      selectors,
      event: entryEvent,
    },
    sink,
  );
  if (!hook.return || hook.returnArg === undefined) return [entryHook];
  return [entryHook, exitHook(hook, entry, base, env)];
}

function exitHook(hook: KprobeHook, entry: string, base: Base, env: PlanEnv): PlannedHook {
  const sink = new IssueSink(env.policy.file);
  const returnArg = hook.returnArg as HookArg;
  const exitFmt = env.facts.tracepointFormat("syscalls", `sys_exit_${entry}`).format;
  const ret = exitFmt?.fields.find((f) => f.name === "ret");
  const arg = fieldArg(
    returnArg,
    "return",
    ret,
    `syscalls/sys_exit_${entry} field "ret"`,
    hook,
    sink,
    `syscalls/sys_exit_${entry} has no "ret" field`,
  );
  sink.warn(
    hook.at,
    `return: true on the syscall tracepoints posts two events per call: the args at entry ` +
      `(sys_enter_${entry}) and the return value at exit (sys_exit_${entry}); Tetragon posts one ` +
      `event at return with both`,
  );
  const selectors = planSelectors(
    hook.selectors,
    {
      sink,
      facts: env.facts,
      args: [arg],
      mechanism: MECHANISM_NAMES.syscall_tracepoint,
      kprobe: false,
    },
    { kind: "exit", returnPos: 0 },
  );
  return finishHook(
    {
      ...base,
      name: `${base.name} (return)`,
      source: { ...base.source, role: "exit" },
      mechanism: "syscall_tracepoint",
      attach: { kind: "tracepoint", subsystem: "syscalls", event: `sys_exit_${entry}` },
      cost: syscallTracepointCost(entry),
      exit: true,
      retOffset: ret?.offset ?? 0,
      recSize: exitFmt === undefined ? 0 : recordSize(exitFmt, [arg]),
      args: [arg],
      selectors,
    },
    sink,
  );
}

function functionHook(
  hook: KprobeHook,
  fn: string,
  fentry: boolean,
  base: Base,
  env: PlanEnv,
  sink: IssueSink,
): PlannedHook {
  const mechanism = MECHANISM_NAMES[fentry ? "fentry" : "kprobe"];
  const ctx = { args: hook.args, sink };
  const args = hook.args.map((a) =>
    planArg(a, "arg", {
      desc: `arg ${a.index} of ${fn}`,
      userPointers: hook.syscall,
      mechanism,
      functionIndex: a.index,
      atReturn: hook.return,
    }, ctx)
  );
  if (hook.return && hook.returnArg !== undefined) {
    args.push(
      planArg(hook.returnArg, "return", {
        desc: `the return value of ${fn}`,
        userPointers: hook.syscall,
        mechanism,
        functionIndex: FUNC_RET_SLOT,
      }, ctx),
    );
  }
  const part = hook.return
    ? { kind: "both" as const, returnPos: args.length - 1 }
    : { kind: "entry" as const };
  const selectors = planSelectors(
    hook.selectors,
    { sink, facts: env.facts, args, mechanism, kprobe: !fentry, fmodRet: fmodRet(fn, hook) },
    part,
  );
  const overrides = selectors.some((s) => s.actions.some((a) => a.kind === "VIGIL_ACT_OVERRIDE"));
  const kind = fentry
    ? (hook.return ? "fexit" : overrides ? "fmod_ret" : "fentry")
    : (hook.return ? "kretprobe" : "kprobe");
  return finishHook(
    {
      ...base,
      mechanism: fentry ? "fentry" : "kprobe",
      attach: { kind, function: fn },
      cost: functionCost(fentry ? "fentry" : "kprobe", fn),
      exit: hook.return,
      syscall: hook.syscall,
      retOffset: 8 * FUNC_RET_SLOT,
      recSize: 0,
      args,
      selectors,
    },
    sink,
  );
}

/**
 * Whether an Override on fentry can go through fmod_ret on `fn` (else why not): the verifier
 * allows BPF_MODIFY_RETURN on security_* functions on every kernel with fentry (5.7+; the engine
 * needs 5.17), and on error-injection functions only where the kernel lists them, which Debian's
 * kernels (no CONFIG_FUNCTION_ERROR_INJECTION) do not.
 */
function fmodRet(fn: string, hook: KprobeHook): true | string {
  if (hook.return) {
    return `fmod_ret runs before the function, so it cannot be a return: true hook`;
  }
  if (fn.startsWith("security_")) return true;
  return `the kernel allows fmod_ret only on security_* functions (and on error-injection ` +
    `functions, which needs error injection in the kernel), and ${fn} is not one`;
}

/**
 * Plans one `lsmhooks[]` entry: a BPF LSM program where BPF LSM is active; else, for observation
 * only, a kprobe (or fentry) on the hook's `security_<hook>` function, as Tetragon does when it
 * cannot load LSM programs (no Override then: a kprobe cannot make the call fail here).
 */
export function planLsm(hook: LsmHook, index: number, env: PlanEnv): PlannedHook {
  const sink = new IssueSink(env.policy.file);
  const fn = hook.hook;
  const securityFn = `security_${fn}`;
  const lsm = option(
    env.facts,
    "lsm",
    env.facts.functionInBtf?.(`bpf_lsm_${fn}`) === false
      ? `this kernel has no LSM hook ${fn} (no bpf_lsm_${fn} in its BTF)`
      : undefined,
  );
  const fallbacks = [
    option(env.facts, "fentry", notInBtf(env, securityFn)),
    option(env.facts, "kprobe"),
  ];
  const options = [lsm, ...fallbacks];
  const base = {
    name: `lsmhooks[${index}] ${fn}`,
    source: { list: "lsmhooks" as const, index, at: hook.at, role: "entry" as const },
    options,
    event: eventOf(env, hook, { kind: "process_lsm", fn }),
    monitor: env.monitor,
    cost: functionCost("lsm", securityFn),
  };
  const chosen = options.find((o) => o.usable);
  if (chosen === undefined) {
    return failedHook(
      base,
      `LSM hook ${fn} cannot run on this kernel: ${refusedOptions(options)}`,
      sink,
    );
  }
  const viaLsm = chosen.mechanism === "lsm";
  const fentry = chosen.mechanism === "fentry";
  const mechanism = MECHANISM_NAMES[chosen.mechanism];
  const args = hook.args.map((a) =>
    planArg(a, "arg", {
      desc: `arg ${a.index} of ${securityFn}`,
      userPointers: false,
      mechanism,
      functionIndex: a.index,
    }, { args: hook.args, sink })
  );
  const selectors = planSelectors(
    hook.selectors,
    {
      sink,
      facts: env.facts,
      args,
      mechanism,
      kprobe: !viaLsm && !fentry,
      lsm: viaLsm,
      fmodRet: `an LSM hook without BPF LSM is observed only, as Tetragon does (a kprobes ` +
        `entry on ${securityFn} can enforce through fmod_ret)`,
    },
    { kind: "entry" },
  );
  if (!viaLsm) {
    sink.warn(
      hook.at,
      `BPF LSM is not usable here (${lsm.reason}): the LSM hook ${fn} is observed through ` +
        `${mechanism} on ${securityFn}, without enforcement by return value`,
    );
  }
  return finishHook(
    {
      ...base,
      mechanism: chosen.mechanism,
      attach: viaLsm
        ? { kind: "lsm", hook: fn }
        : { kind: fentry ? "fentry" : "kprobe", function: securityFn },
      why: explainChoice(
        options,
        `the LSM hook ${fn}`,
        viaLsm ? undefined : `${securityFn}, observation only`,
      ),
      cost: viaLsm ? base.cost : functionCost(fentry ? "fentry" : "kprobe", securityFn),
      exit: false,
      retOffset: 0,
      recSize: 0,
      args,
      selectors,
    },
    sink,
  );
}

/** Plans one `uprobes[]` entry: always refused for now (no uprobe program in the engine). */
export function planUprobe(hook: UprobeHook, index: number, env: PlanEnv): PlannedHook {
  const sink = new IssueSink(env.policy.file);
  const symbol = hook.symbols[0] ?? String(hook.offsets[0] ?? hook.addrs[0] ?? "");
  const options = [option(env.facts, "uprobe")];
  return failedHook(
    {
      name: `uprobes[${index}] ${hook.path}:${symbol}`,
      source: { list: "uprobes", index, at: hook.at, role: "entry" },
      options,
      cost: {
        class: "per-call",
        note: "each call of the probed instruction traps into the kernel",
      },
      event: eventOf(env, hook, { kind: "process_uprobe", fn: symbol }),
      monitor: env.monitor,
    },
    `uprobe on ${hook.path}:${symbol} cannot run: ${options[0]?.reason}`,
    sink,
  );
}
