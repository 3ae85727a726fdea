/**
 * Translates selectors into what `struct vigil_selector` can hold: arg filters with inline values
 * or sets, pids, binaries, namespaces, capabilities and actions. Anything the ABI cannot express
 * is an error at its YAML location, never silently dropped.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { ENUMS } from "../../bpf/abi.gen.ts";
import type {
  NsKind,
  PlanFacts,
  PlannedAction,
  PlannedArg,
  PlannedBinaries,
  PlannedCapability,
  PlannedNamespace,
  PlannedPids,
  PlannedSelector,
  SetOp,
} from "./types.ts";
import type {
  Action,
  ArgFilter,
  BinaryFilter,
  CapabilitySet,
  NamespaceType,
  Selector,
} from "../spec/mod.ts";
import type { IssueSink } from "./issues.ts";
import { planArgFilter } from "./filters.ts";

const LIMITS = ENUMS.vigil_policy_limits;

const NS_KINDS: Readonly<Record<NamespaceType, NsKind>> = {
  Uts: "VIGIL_NS_UTS",
  Ipc: "VIGIL_NS_IPC",
  Mnt: "VIGIL_NS_MNT",
  Pid: "VIGIL_NS_PID",
  PidForChildren: "VIGIL_NS_PID_FOR_CHILDREN",
  Net: "VIGIL_NS_NET",
  Time: "VIGIL_NS_TIME",
  TimeForChildren: "VIGIL_NS_TIME_FOR_CHILDREN",
  Cgroup: "VIGIL_NS_CGROUP",
  User: "VIGIL_NS_USER",
};

const CAP_SETS: Readonly<Record<CapabilitySet, PlannedCapability["set"]>> = {
  Effective: "VIGIL_CAP_EFFECTIVE",
  Inheritable: "VIGIL_CAP_INHERITABLE",
  Permitted: "VIGIL_CAP_PERMITTED",
};

const BINARY_OPS: Readonly<Record<BinaryFilter["operator"], SetOp>> = {
  In: "VIGIL_SET_IN",
  NotIn: "VIGIL_SET_NOT_IN",
  Prefix: "VIGIL_SET_PREFIX",
  NotPrefix: "VIGIL_SET_NOT_PREFIX",
  Postfix: "VIGIL_SET_POSTFIX",
  NotPostfix: "VIGIL_SET_NOT_POSTFIX",
};

const SIGKILL = 9;
const NS_PER_MS = 1_000_000n;

/** What selector planning needs to know about its hook. */
export interface SelectorEnv {
  readonly sink: IssueSink;
  readonly facts: PlanFacts;
  /** The hook's planned args (filters refer to positions in it). */
  readonly args: readonly PlannedArg[];
  /** The mechanism, for messages (e.g. `the syscall tracepoint`). */
  readonly mechanism: string;
  /** Whether the mechanism is a kprobe that could use bpf_override_return. */
  readonly kprobe: boolean;
  /** A BPF LSM program: Override is its return value. */
  readonly lsm?: boolean;
  /**
   * fentry: `true` when an Override can go through fmod_ret on this function, else why not (the
   * kernel allows fmod_ret on security_* functions; error-injection ones need a kernel feature
   * the kernels we know lack).
   */
  readonly fmodRet?: true | string;
}

/**
 * Which half of a selector a hook evaluates: `entry` (matchArgs, matchActions), `exit` (the return
 * half of a `return: true` syscall on tracepoints: matchReturnArgs at arg position `returnPos`,
 * matchReturnActions), or `both` (fexit/kretprobe: all of them in one program).
 */
export type SelectorPart =
  | { readonly kind: "entry" }
  | { readonly kind: "exit"; readonly returnPos: number }
  | { readonly kind: "both"; readonly returnPos: number };

/**
 * Plans the selectors of one hook. `indexes` gives each selector's position as written when
 * `selectors` is a subset (a split raw_syscalls hook); by default their position in the list.
 */
export function planSelectors(
  selectors: readonly Selector[],
  env: SelectorEnv,
  part: SelectorPart,
  indexes?: readonly number[],
): PlannedSelector[] {
  return selectors.map((s, i) => planSelector(s, indexes?.[i] ?? i, env, part));
}

function planSelector(
  sel: Selector,
  index: number,
  env: SelectorEnv,
  part: SelectorPart,
): PlannedSelector {
  const { sink } = env;
  if (sel.matchData.length > 0) {
    sink.error(
      sel.matchData[0]?.at ?? sel.at,
      "matchData filters the hook's data[] values (read from the current task or pt_regs " +
        "through resolve paths), which vigil's engine does not read yet: not runnable",
    );
  }
  // Tetragon compares with the values its exec hook recorded per process; vigil's process
  // tracker keeps only the exec'd path per process (exec_binaries), so there is nothing to
  // compare with.
  if (sel.matchNamespaceChanges !== undefined) {
    sink.error(
      sel.matchNamespaceChanges.at,
      "matchNamespaceChanges compares the caller's namespaces with those it had at its exec; " +
        "vigil's process tracker does not record exec-time namespaces (it keeps the exec'd " +
        "path only), so the engine cannot run it: not runnable",
    );
  }
  const capChange = sel.matchCapabilityChanges[0];
  if (capChange !== undefined) {
    sink.error(
      capChange.at,
      "matchCapabilityChanges compares the caller's capabilities with those it had at its " +
        "exec; vigil's process tracker does not record exec-time capabilities (it keeps the " +
        "exec'd path only), so the engine cannot run it: not runnable",
    );
  }

  const filters: { f: ArgFilter; pos: number }[] = [];
  const actions: Action[] = [];
  if (part.kind !== "exit") {
    filters.push(...sel.matchArgs.map((f) => ({ f, pos: f.argPos })));
    actions.push(...sel.matchActions);
  } else {
    const entryFilter = sel.matchArgs[0];
    if (entryFilter !== undefined) {
      sink.error(
        entryFilter.at,
        `this selector filters entry args (matchArgs) of a return: true hook: on ${env.mechanism} ` +
          `the return value is seen by a separate program at the syscall's exit, where the entry ` +
          `args are gone, so the selector cannot be evaluated as one (Tetragon checks both in one ` +
          `event); it needs fentry/fexit or kprobes, which this kernel lacks`,
      );
    }
  }
  if (part.kind !== "entry") {
    filters.push(...sel.matchReturnArgs.map((f) => ({ f, pos: part.returnPos })));
    actions.push(...sel.matchReturnActions);
  }
  if (filters.length > LIMITS.VIGIL_MAX_ARG_FILTERS) {
    sink.error(
      filters[LIMITS.VIGIL_MAX_ARG_FILTERS]?.f.at ?? sel.at,
      `at most ${LIMITS.VIGIL_MAX_ARG_FILTERS} arg filters per selector in vigil's engine; this ` +
        `one has ${filters.length}`,
    );
  }
  const argFilters = filters.slice(0, LIMITS.VIGIL_MAX_ARG_FILTERS).flatMap(({ f, pos }) => {
    const arg = env.args[pos];
    if (arg === undefined) {
      sink.error(f.at, `arg position ${pos} is not read by this hook`);
      return [];
    }
    return planArgFilter(f, pos, arg, env.sink) ?? [];
  });

  const binaries = sel.matchBinaries === undefined
    ? undefined
    : planBinaries(sel.matchBinaries, sink);
  const parentBinaries = sel.matchParentBinaries === undefined
    ? undefined
    : planBinaries(sel.matchParentBinaries, sink);
  return {
    at: sel.at,
    index,
    argFilters,
    pids: planPids(sel, sink),
    ...(binaries === undefined ? {} : { binaries }),
    ...(parentBinaries === undefined ? {} : { parentBinaries }),
    namespaces: planNamespaces(sel, env),
    capabilities: planCapabilities(sel, sink),
    actions: entryActions(planActions(actions, sel, env, part), sel, env, part),
  };
}

function planPids(sel: Selector, sink: IssueSink): PlannedPids[] {
  const extra = sel.matchPIDs[LIMITS.VIGIL_MAX_PID_FILTERS];
  if (extra !== undefined) {
    sink.error(
      extra.at,
      `vigil's engine holds at most ${LIMITS.VIGIL_MAX_PID_FILTERS} matchPIDs entries per ` +
        `selector; this one has ${sel.matchPIDs.length}: merge the values of entries with the ` +
        `same operator, or use another selector`,
    );
  }
  return sel.matchPIDs.slice(0, LIMITS.VIGIL_MAX_PID_FILTERS).map((p) => {
    if (p.values.length > LIMITS.VIGIL_MAX_PIDS) {
      sink.error(p.at, `at most ${LIMITS.VIGIL_MAX_PIDS} pids per matchPIDs entry`);
    }
    return {
      op: p.operator === "In" ? "VIGIL_SET_IN" : "VIGIL_SET_NOT_IN",
      values: p.values.slice(0, LIMITS.VIGIL_MAX_PIDS),
      namespacePid: p.isNamespacePID,
      follow: p.followForks,
    };
  });
}

const encoder = new TextEncoder();

function planBinaries(b: BinaryFilter, sink: IssueSink): PlannedBinaries | undefined {
  if (b.values.length === 0) return undefined;
  const exact = b.operator === "In" || b.operator === "NotIn";
  const max = exact ? LIMITS.VIGIL_STR_MAX - 1 : LIMITS.VIGIL_LPM_STR_MAX - 1;
  for (const v of b.values) {
    const n = encoder.encode(v).length;
    if (n > max) {
      sink.error(b.at, `matchBinaries path of ${n} bytes: the engine compares at most ${max}`);
    }
  }
  const op = BINARY_OPS[b.operator];
  const lpm = b.operator !== "In" && b.operator !== "NotIn";
  return {
    op,
    set: lpm
      ? { kind: "lpm", reversed: b.operator.endsWith("Postfix"), values: b.values }
      : { kind: "str", values: b.values },
    follow: b.followChildren,
  };
}

function planNamespaces(sel: Selector, env: SelectorEnv): PlannedNamespace[] {
  const { sink, facts } = env;
  const extra = sel.matchNamespaces[LIMITS.VIGIL_MAX_NS_FILTERS];
  if (extra !== undefined) {
    sink.error(
      extra.at,
      `vigil's engine holds at most ${LIMITS.VIGIL_MAX_NS_FILTERS} matchNamespaces entries per ` +
        `selector; this one has ${sel.matchNamespaces.length}`,
    );
  }
  return sel.matchNamespaces.slice(0, LIMITS.VIGIL_MAX_NS_FILTERS).map((n) => {
    const values: number[] = [];
    for (const v of n.values.slice(0, LIMITS.VIGIL_MAX_NS_VALUES)) {
      if (v !== "host_ns") {
        values.push(v);
        continue;
      }
      const inode = facts.hostNamespaces?.[n.namespace];
      if (inode === undefined) {
        sink.error(
          n.at,
          `host_ns needs the host's ${n.namespace} namespace inode (from /proc/1/ns), which is ` +
            `unknown${facts.hostNamespacesError ? `: ${facts.hostNamespacesError}` : ""}`,
        );
      } else {
        values.push(inode);
      }
    }
    return {
      ns: NS_KINDS[n.namespace],
      op: n.operator === "In" ? "VIGIL_SET_IN" : "VIGIL_SET_NOT_IN",
      values,
    };
  });
}

function planCapabilities(sel: Selector, sink: IssueSink): PlannedCapability[] {
  const extra = sel.matchCapabilities[LIMITS.VIGIL_MAX_CAP_FILTERS];
  if (extra !== undefined) {
    sink.error(
      extra.at,
      `vigil's engine holds at most ${LIMITS.VIGIL_MAX_CAP_FILTERS} matchCapabilities entries per ` +
        `selector; this one has ${sel.matchCapabilities.length}`,
    );
  }
  return sel.matchCapabilities.slice(0, LIMITS.VIGIL_MAX_CAP_FILTERS).map((c) => ({
    set: CAP_SETS[c.type],
    op: c.operator === "In" ? "VIGIL_SET_IN" : "VIGIL_SET_NOT_IN",
    mask: c.mask,
    // As Tetragon: only tasks outside the host user namespace can match.
    namespaced: c.isNamespaceCapability,
  }));
}

function needSignal(env: SelectorEnv, at: Action["at"], action: string): void {
  const f = env.facts.features.send_signal;
  if (f?.supported !== true) {
    env.sink.error(
      at,
      `action ${action} needs bpf_send_signal, which this kernel refuses: ${
        f?.reason ?? "send_signal was not probed"
      }`,
    );
  }
}

function planAction(a: Action, env: SelectorEnv): PlannedAction | undefined {
  const none = { at: a.at, scope: "VIGIL_RATE_THREAD", signal: 0, rateLimitNs: 0n } as const;
  switch (a.action) {
    case "Post": {
      for (
        const [on, what] of [
          [a.kernelStackTrace, "kernelStackTrace"],
          [a.userStackTrace, "userStackTrace"],
          [a.imaHash, "imaHash"],
        ] as const
      ) {
        if (on) env.sink.error(a.at, `Post with ${what} is not supported by vigil's engine`);
      }
      return {
        ...none,
        kind: "VIGIL_ACT_POST",
        scope: a.rateLimitScope === "process"
          ? "VIGIL_RATE_PROCESS"
          : a.rateLimitScope === "global"
          ? "VIGIL_RATE_GLOBAL"
          : "VIGIL_RATE_THREAD",
        rateLimitNs: BigInt(a.rateLimitMs ?? 0) * NS_PER_MS,
      };
    }
    case "NoPost":
      return { ...none, kind: "VIGIL_ACT_NOPOST" };
    case "Sigkill":
      needSignal(env, a.at, "Sigkill");
      return { ...none, kind: "VIGIL_ACT_SIGKILL", signal: SIGKILL };
    case "Signal":
      needSignal(env, a.at, "Signal");
      return { ...none, kind: "VIGIL_ACT_SIGNAL", signal: a.argSig };
    case "Override": {
      if (env.lsm || env.fmodRet === true) {
        if (a.argError >= 0 || a.argError < -4095) {
          env.sink.error(
            a.at,
            `Override argError ${a.argError}: ${
              env.lsm ? "an LSM hook" : "an fmod_ret program"
            } can only return a negative errno (-4095..-1)`,
          );
          return undefined;
        }
        return { ...none, kind: "VIGIL_ACT_OVERRIDE", error: a.argError };
      }
      if (env.mechanism === "fentry") {
        env.sink.error(
          a.at,
          `action Override on fentry goes through an fmod_ret program, and ${
            env.fmodRet ?? "this hook cannot use one"
          }; an lsmhooks entry can return the error where BPF LSM is active`,
        );
        return undefined;
      }
      const f = env.facts.features.override_return;
      env.sink.error(
        a.at,
        env.kprobe
          ? `action Override needs bpf_override_return${
            f?.supported === true
              ? ", which vigil's engine does not use yet"
              : `: ${f?.reason ?? "not probed"}`
          }`
          : `action Override cannot change the result of a call observed through ${env.mechanism}: ` +
            `it needs a kprobe with bpf_override_return, and this kernel has ${
              f?.supported === true
                ? "it, but no usable kprobe"
                : `none (${f?.reason ?? "not probed"})`
            }`,
      );
      return undefined;
    }
    case "NotifyEnforcer":
      return planNotifyEnforcer(a, env);
    case "CleanupEnforcerNotification":
      // vigil signals from the notifying hook itself: no notification is left pending.
      return undefined;
    case "GetUrl":
    case "DnsLookup":
      env.sink.error(
        a.at,
        `action ${a.action} makes the agent ${
          a.action === "GetUrl" ? "fetch a URL" : "resolve a name"
        } for each matching event (a canary trigger); vigil does no network I/O on behalf of ` +
          `policies (a policy file would turn the root agent into a network client): send the ` +
          `exported events to your alerting instead. Valid Tetragon, not runnable`,
      );
      return undefined;
    case "TrackSock":
    case "UntrackSock":
      env.sink.error(
        a.at,
        `action ${a.action} ${
          a.action === "TrackSock" ? "records" : "drops"
        } the socket's owner so later events on that socket (in softirq or another task) are ` +
          `attributed to it; vigil's engine has no socket-to-process map yet and would attribute ` +
          `them to whatever task runs: not runnable`,
      );
      return undefined;
  }
}

/**
 * NotifyEnforcer: Tetragon's enforcer program, on the listed syscalls, sends `argSig` and makes
 * the syscall return `argError`. vigil sends the signal from the notifying hook itself (it is
 * delivered on the return to user space either way); returning an error needs the syscall's own
 * program to override its result, which the engine does not attach for enforcers.
 */
function planNotifyEnforcer(
  a: Extract<Action, { action: "NotifyEnforcer" }>,
  env: SelectorEnv,
): PlannedAction | undefined {
  const none = { at: a.at, scope: "VIGIL_RATE_THREAD", rateLimitNs: 0n } as const;
  if (a.argError !== undefined && a.argError !== 0) {
    env.sink.error(
      a.at,
      `NotifyEnforcer with argError ${a.argError} needs an enforcer program on the syscall to make ` +
        `it return the error (bpf_override_return or fmod_ret); vigil's engine sends argSig from ` +
        `the notifying hook but attaches no enforcer program: use Override on a kprobe/lsmhook ` +
        `for the error. Not runnable`,
    );
    return undefined;
  }
  if (a.argSig === undefined || a.argSig === 0) {
    // Neither a signal nor an error: the notification would change nothing.
    return undefined;
  }
  needSignal(env, a.at, "NotifyEnforcer");
  return { ...none, kind: "VIGIL_ACT_NOTIFYENFORCER", signal: a.argSig };
}

/**
 * The entry half of a hook split at the syscall's exit tracepoint cannot see the return value:
 * a selector that filters on it (matchReturnArgs) must not post at entry, or every call would
 * be posted whatever it returns. Its other entry actions (Sigkill, Signal) still run there, as
 * in Tetragon, where matchActions run at entry and the event is posted at return.
 */
function entryActions(
  planned: PlannedAction[],
  sel: Selector,
  env: SelectorEnv,
  part: SelectorPart,
): PlannedAction[] {
  if (part.kind !== "entry" || sel.matchReturnArgs.length === 0) return planned;
  env.sink.warn(
    sel.matchReturnArgs[0]?.at ?? sel.at,
    `this selector filters the return value, which only the exit tracepoint sees: its event ` +
      `is posted at exit (with the return value, without the entry args), not at entry`,
  );
  const kept = planned.filter((a) => a.kind !== "VIGIL_ACT_POST" && a.kind !== "VIGIL_ACT_NOPOST");
  return [...kept, {
    at: sel.at,
    kind: "VIGIL_ACT_NOPOST",
    scope: "VIGIL_RATE_THREAD",
    signal: 0,
    rateLimitNs: 0n,
  }];
}

function planActions(
  actions: readonly Action[],
  sel: Selector,
  env: SelectorEnv,
  part: SelectorPart,
): PlannedAction[] {
  if (actions.length > LIMITS.VIGIL_MAX_ACTIONS) {
    env.sink.error(
      actions[LIMITS.VIGIL_MAX_ACTIONS]?.at ?? sel.at,
      `at most ${LIMITS.VIGIL_MAX_ACTIONS} actions per selector in vigil's engine (matchActions and ` +
        `matchReturnActions together, for ${part.kind === "both" ? "an exit" : "this"} hook)`,
    );
  }
  const planned = actions.slice(0, LIMITS.VIGIL_MAX_ACTIONS).flatMap((a) =>
    planAction(a, env) ?? []
  );
  // No kernel action (none written, or only ones that need none): the selector posts.
  if (planned.length === 0) {
    return [{
      at: sel.at,
      kind: "VIGIL_ACT_POST",
      scope: "VIGIL_RATE_THREAD",
      signal: 0,
      rateLimitNs: 0n,
    }];
  }
  return planned;
}
