/**
 * Decodes a hook's `selectors`: every filter and action, with Tetragon's limits, cross-references
 * to the hook's args/data/returnArg and to `spec.lists`, and per-hook-kind action rules.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { ACTION_NAMES, normaliseActionName, normaliseRateLimitScope } from "../vocab/mod.ts";
import type { ArgType } from "../vocab/mod.ts";
import { isCapabilityType } from "../vocab/mod.ts";
import { capabilityByName, type CapabilityName, normaliseCapabilitySet } from "../vocab/mod.ts";
import { POLICY_LIMITS } from "../vocab/mod.ts";
import { type NamespaceType, normaliseNamespaceType } from "../vocab/mod.ts";
import {
  ARG_OPERATOR_NAMES,
  type ArgOperator,
  normaliseArgOperator,
  normaliseBinaryOperator,
  normaliseSetOperator,
  type SetOperator,
} from "../vocab/mod.ts";
import { parseRateLimit } from "../vocab/mod.ts";
import type {
  Action,
  ArgFilter,
  BinaryFilter,
  CapabilityFilter,
  NamespaceChangeFilter,
  NamespaceFilter,
  PidFilter,
  Selector,
} from "./types.ts";
import { type ListIndex, parseMatchValues } from "./read_values.ts";
import { type Fields, type Reader, suggest, type Val } from "./yaml_reader.ts";

/** What a selector may refer to on its hook. */
export interface ArgSlot {
  /** `index` as written. */
  readonly index: number;
  /** Canonical type; `undefined` when the arg itself is invalid (already reported). */
  readonly type: ArgType | undefined;
}

/** The hook a selector belongs to. */
export interface SelectorContext {
  readonly hookKind: "kprobe" | "fentry" | "tracepoint" | "uprobe" | "lsm";
  readonly args: readonly ArgSlot[];
  readonly data: readonly ArgSlot[];
  /** The return value's slot when the hook has `return: true` and a `returnArg`. */
  readonly returnArg?: ArgSlot;
  /** Effective syscall flag (kprobes/fentries). */
  readonly syscall: boolean;
  /** `call` as written (kprobes/fentries). */
  readonly call?: string;
  readonly lists: ListIndex;
  readonly hasEnforcers: boolean;
  /** Counts `followChildren` entries across the policy. */
  readonly followChildren: { count: number };
}

const SELECTOR_SHAPE = {
  fields: [
    "matchPIDs",
    "matchArgs",
    "matchData",
    "matchActions",
    "matchReturnArgs",
    "matchReturnActions",
    "matchBinaries",
    "matchParentBinaries",
    "matchNamespaces",
    "matchNamespaceChanges",
    "matchCapabilities",
    "matchCapabilityChanges",
    "label",
  ],
  notRunnable: {
    matchWorkloads: "matchWorkloads (Tetragon 1.7) is valid Tetragon; vigil's engine has no " +
      "in-kernel workload filter yet: not runnable",
    matchCEL: "matchCEL (a CEL expression over the hook's args, Tetragon 1.7) is valid Tetragon; " +
      "vigil's engine has no CEL compiler for in-kernel filters yet: not runnable",
    macros: "selector macros (Tetragon 1.7 selectorsMacros) are valid Tetragon that vigil cannot " +
      "expand yet: not runnable",
  },
} as const;

const ARG_FILTER_SHAPE = { fields: ["index", "args", "operator", "values"] } as const;

const ACTION_SHAPE = {
  fields: [
    "action",
    "argError",
    "argSig",
    "argUrl",
    "argFqdn",
    "argSock",
    "argFd",
    "argName",
    "argIndex",
    "argValue",
    "argRegs",
    "argNewSymbol",
    "argNewAddr",
    "argNewOffset",
    "rateLimit",
    "rateLimitScope",
    "kernelStackTrace",
    "userStackTrace",
    "imaHash",
  ],
} as const;

/** Reports list items past `max` at the first extra one; returns the items within the limit. */
function limitItems(r: Reader, items: Val[], max: number, message: string): Val[] {
  const extra = items[max];
  if (extra !== undefined) r.error(extra, message.replace("{n}", String(items.length)));
  return items.slice(0, max);
}

type FilterKind = "matchArgs" | "matchData" | "matchReturnArgs";

function describeSlot(kind: FilterKind, pos: number, slot: ArgSlot): string {
  if (kind === "matchData") return `data[${pos}]`;
  if (kind === "matchReturnArgs") return "returnArg";
  return `args[${pos}] (index ${slot.index})`;
}

function resolvePosition(
  r: Reader,
  kind: FilterKind,
  f: Fields,
  index: number,
  args: readonly number[] | undefined,
  ctx: SelectorContext,
): number | undefined {
  const slots = kind === "matchArgs"
    ? ctx.args
    : kind === "matchData"
    ? ctx.data
    : ctx.returnArg === undefined
    ? []
    : [ctx.returnArg];
  const indexAt = f.get("index") ?? f.at;
  if (args !== undefined && args.length > 0) {
    const pos = args[0] ?? 0;
    if (pos >= slots.length) {
      r.error(
        f.get("args") ?? f.at,
        `args[0] is ${pos}, but the hook has ${slots.length} ${
          kind === "matchData" ? "data entries" : "args"
        } (args are positions in the hook's list)`,
      );
      return undefined;
    }
    return pos;
  }
  if (kind === "matchData") {
    if (index >= slots.length) {
      r.error(
        indexAt,
        `matchData index ${index} is out of bounds: the hook has ${slots.length} data entries`,
      );
      return undefined;
    }
    return index;
  }
  if (kind === "matchReturnArgs") {
    if (ctx.returnArg === undefined) return undefined;
    if (index !== ctx.returnArg.index) {
      r.error(
        indexAt,
        `argFilter for unknown index ${index}: matchReturnArgs filters the returnArg, whose index is ` +
          `${ctx.returnArg.index}`,
      );
      return undefined;
    }
    return 0;
  }
  const byIndex = slots.findIndex((s) => s.index === index);
  if (byIndex >= 0) return byIndex;
  // Tracepoints also accept the position in args (Tetragon rewrites format indexes to positions).
  if (ctx.hookKind === "tracepoint" && index < slots.length) return index;
  // An arg whose index did not decode was already reported; do not pile on.
  if (slots.some((s) => s.index < 0)) return undefined;
  const declared = slots.map((s) => s.index);
  r.error(
    indexAt,
    `argFilter for unknown index ${index}: matchArgs index must be the index of one of the hook's ` +
      `args (${
        declared.length === 0 ? "the hook declares no args" : `declared: ${declared.join(", ")}`
      })`,
  );
  return undefined;
}

function decodeArgFilter(
  r: Reader,
  v: Val,
  kind: FilterKind,
  ctx: SelectorContext,
): ArgFilter | undefined {
  const f = r.map(v, ARG_FILTER_SHAPE);
  if (f === undefined) return undefined;
  const indexVal = f.get("index");
  const indexRead = r.integer(indexVal, 0, 0xffff_ffff);
  const index = indexRead ?? 0;
  const indexOk = indexVal === undefined || indexVal.node === null || indexRead !== undefined;
  const argsItems = r.seq(f.get("args"));
  const args: number[] = [];
  for (const item of argsItems) {
    const n = r.integer(item, 0, 0xffff_ffff);
    if (n !== undefined) args.push(n);
  }
  const opText = r.requiredString(f, "operator");
  const opAt = f.get("operator") ?? f.at;
  let op: ArgOperator | undefined;
  if (opText !== undefined) {
    const norm = normaliseArgOperator(opText);
    if (norm === undefined) {
      const hint = suggest(opText, ARG_OPERATOR_NAMES);
      r.error(
        opAt,
        `unknown operator ${JSON.stringify(opText)}` +
          (hint === undefined ? "" : ` (did you mean ${JSON.stringify(hint)}?)`),
      );
    } else if (typeof norm === "object") {
      if (norm.valid) r.unrunnable(opAt, norm.reason);
      else r.error(opAt, norm.reason);
    } else {
      op = norm;
    }
  }
  const valueItems = r.seq(f.get("values"));
  const values = r.stringItems(valueItems);
  const argsGiven = f.has("args") ? args : undefined;
  const pos = indexOk ? resolvePosition(r, kind, f, index, argsGiven, ctx) : undefined;
  if (op === undefined || pos === undefined) return undefined;
  const slots = kind === "matchArgs"
    ? ctx.args
    : kind === "matchData"
    ? ctx.data
    : ctx.returnArg === undefined
    ? []
    : [ctx.returnArg];
  const slot = slots[pos];
  if (slot === undefined) return undefined;
  const base = {
    at: r.ref(v),
    index,
    ...(argsGiven === undefined ? {} : { args: argsGiven }),
    argPos: pos,
    argType: slot.type ?? "auto",
    operator: op,
    values: values.map((s) => s.value),
  };
  if (op === "CapabilitiesGained") {
    if (args.length !== 2) {
      r.error(
        f.get("args") ?? opAt,
        "CapabilitiesGained needs args with two positions: the new and the old capability set",
      );
      return undefined;
    }
    const second = args[1] ?? 0;
    const other = slots[second];
    if (other === undefined) {
      r.error(f.get("args") ?? opAt, `args[1] is ${second}, but the hook has ${slots.length} args`);
      return undefined;
    }
    if (
      (slot.type !== undefined && !isCapabilityType(slot.type)) ||
      (other.type !== undefined && !isCapabilityType(other.type))
    ) {
      r.error(opAt, "CapabilitiesGained compares two capability-set args (kernel_cap_t, cap_*)");
      return undefined;
    }
    return { ...base, match: { kind: "capabilitiesGained", secondArgPos: second } };
  }
  const match = parseMatchValues(r, {
    op,
    opAt,
    type: slot.type,
    argDesc: describeSlot(kind, pos, slot),
    values,
    rawValueCount: valueItems.length,
    valuesAt: f.get("values") ?? f.at,
    lists: ctx.lists,
  });
  return match === undefined ? undefined : { ...base, match };
}

function decodeSetOperator(r: Reader, f: Fields, what: string): SetOperator | undefined {
  const text = r.requiredString(f, "operator");
  if (text === undefined) return undefined;
  const op = normaliseSetOperator(text);
  if (op === undefined) {
    r.error(
      f.get("operator") ?? f.at,
      `${what} supports only the In and NotIn operators, got ${JSON.stringify(text)}`,
    );
  }
  return op;
}

function decodePids(r: Reader, v: Val): PidFilter | undefined {
  const f = r.map(v, { fields: ["operator", "values", "followForks", "isNamespacePID"] });
  if (f === undefined) return undefined;
  const operator = decodeSetOperator(r, f, "matchPIDs");
  if (f.get("values") === undefined) r.missing(f, "values");
  const all = r.seq(f.get("values"));
  const items = limitItems(
    r,
    all,
    POLICY_LIMITS.pidsPerEntry,
    `at most ${POLICY_LIMITS.pidsPerEntry} PIDs per matchPIDs entry (Tetragon's limit); found {n}`,
  );
  const values: number[] = [];
  let ok = items.length === all.length;
  for (const item of items) {
    const n = r.integer(item, 0, 0xffff_ffff);
    if (n === undefined) ok = false;
    else values.push(n);
  }
  const followForks = r.bool(f.get("followForks")) ?? false;
  const isNamespacePID = r.bool(f.get("isNamespacePID")) ?? false;
  if (operator === undefined || !ok) return undefined;
  return { at: r.ref(v), operator, values, followForks, isNamespacePID };
}

function decodeBinaries(
  r: Reader,
  v: Val,
  ctx: SelectorContext,
  what = "matchBinaries",
): BinaryFilter | undefined {
  const f = r.map(v, { fields: ["operator", "values", "followChildren"] });
  if (f === undefined) return undefined;
  const text = r.requiredString(f, "operator");
  const opAt = f.get("operator") ?? f.at;
  const operator = text === undefined ? undefined : normaliseBinaryOperator(text);
  if (text !== undefined && operator === undefined) {
    r.error(
      opAt,
      `${what} supports In, NotIn, Prefix, NotPrefix, Postfix and NotPostfix, got ${
        JSON.stringify(text)
      }`,
    );
  }
  if (f.get("values") === undefined) r.missing(f, "values");
  const values = r.strings(f.get("values"));
  let ok = true;
  const maxBytes = operator === "Postfix" || operator === "NotPostfix"
    ? POLICY_LIMITS.postfixMaxBytes
    : POLICY_LIMITS.binaryPathMaxBytes;
  for (const s of values) {
    const n = new TextEncoder().encode(s.value).length;
    if (n > maxBytes) {
      r.error(
        s.at,
        `${what} ${operator === undefined ? "" : `${operator} `}paths are limited to ` +
          `${maxBytes} bytes (Tetragon's limit); this one has ${n}`,
      );
      ok = false;
    }
  }
  const valuesVal = f.get("values");
  if (values.length === 0 && valuesVal !== undefined) {
    r.warn(valuesVal, `${what} with no values is ignored`);
  }
  const followChildren = r.bool(f.get("followChildren")) ?? false;
  if (followChildren && operator !== undefined && operator !== "In" && operator !== "NotIn") {
    r.error(
      f.get("followChildren") ?? f.at,
      `followChildren only works with the In and NotIn operators, not ${operator}`,
    );
    ok = false;
  }
  if (followChildren) {
    ctx.followChildren.count++;
    if (ctx.followChildren.count > POLICY_LIMITS.followChildrenPerPolicy) {
      r.error(
        f.get("followChildren") ?? f.at,
        `at most ${POLICY_LIMITS.followChildrenPerPolicy} ${what} entries with followChildren per policy`,
      );
      ok = false;
    }
  }
  if (operator === undefined || !ok) return undefined;
  return { at: r.ref(v), operator, values: values.map((s) => s.value), followChildren };
}

function decodeNamespaces(r: Reader, v: Val): NamespaceFilter | undefined {
  const f = r.map(v, { fields: ["namespace", "operator", "values"] });
  if (f === undefined) return undefined;
  const nsText = r.requiredString(f, "namespace");
  const namespace = nsText === undefined ? undefined : normaliseNamespaceType(nsText);
  if (nsText !== undefined && namespace === undefined) {
    r.error(
      f.get("namespace") ?? f.at,
      `unknown namespace ${
        JSON.stringify(nsText)
      } (expected Uts, Ipc, Mnt, Pid, PidForChildren, Net, ` +
        `Time, TimeForChildren, Cgroup or User)`,
    );
  }
  const operator = decodeSetOperator(r, f, "matchNamespaces");
  if (f.get("values") === undefined) r.missing(f, "values");
  const all = r.strings(f.get("values"));
  const extra = all[POLICY_LIMITS.namespaceValuesPerEntry];
  let ok = true;
  if (extra !== undefined) {
    r.error(
      extra.at,
      `at most ${POLICY_LIMITS.namespaceValuesPerEntry} values per matchNamespaces entry (Tetragon's ` +
        `limit); found ${all.length}`,
    );
    ok = false;
  }
  const values: Array<number | "host_ns"> = [];
  for (const s of all) {
    if (s.value === "host_ns") {
      values.push("host_ns");
      continue;
    }
    const n = /^\d+$/.test(s.value) ? Number(s.value) : NaN;
    if (!Number.isSafeInteger(n) || n > 0xffff_ffff) {
      r.error(
        s.at,
        `matchNamespaces values are namespace inode numbers or "host_ns", got ${
          JSON.stringify(s.value)
        }`,
      );
      ok = false;
    } else {
      values.push(n);
    }
  }
  if (namespace === undefined || operator === undefined || !ok) return undefined;
  return { at: r.ref(v), namespace, operator, values };
}

function decodeNamespaceChanges(r: Reader, v: Val): NamespaceChangeFilter | undefined {
  const f = r.map(v, { fields: ["operator", "values"] });
  if (f === undefined) return undefined;
  const operator = decodeSetOperator(r, f, "matchNamespaceChanges");
  if (f.get("values") === undefined) r.missing(f, "values");
  const namespaces: NamespaceType[] = [];
  let ok = true;
  for (const s of r.strings(f.get("values"))) {
    const ns = normaliseNamespaceType(s.value);
    if (ns === undefined) {
      r.error(s.at, `unknown namespace ${JSON.stringify(s.value)}`);
      ok = false;
    } else {
      namespaces.push(ns);
    }
  }
  if (operator === undefined || !ok) return undefined;
  return { at: r.ref(v), operator, namespaces };
}

function decodeCapabilities(r: Reader, v: Val, what: string): CapabilityFilter | undefined {
  const f = r.map(v, { fields: ["type", "operator", "isNamespaceCapability", "values"] });
  if (f === undefined) return undefined;
  const typeText = r.string(f.get("type"));
  const type = typeText === undefined || typeText === ""
    ? "Effective"
    : normaliseCapabilitySet(typeText);
  if (type === undefined) {
    r.error(
      f.get("type") ?? f.at,
      `unknown capability set ${
        JSON.stringify(typeText)
      } (expected Effective, Inheritable or Permitted)`,
    );
  }
  const operator = decodeSetOperator(r, f, what);
  if (f.get("values") === undefined) r.missing(f, "values");
  const isNamespaceCapability = r.bool(f.get("isNamespaceCapability")) ?? false;
  const values: CapabilityName[] = [];
  let mask = 0n;
  let ok = true;
  for (const s of r.strings(f.get("values"))) {
    const cap = capabilityByName(s.value);
    if (cap === undefined) {
      const hint = suggest(s.value.toUpperCase(), [
        "CAP_SYS_ADMIN",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_SYS_PTRACE",
        "CAP_SYS_MODULE",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_DAC_OVERRIDE",
        "CAP_BPF",
      ]);
      r.error(
        s.at,
        `unknown capability ${JSON.stringify(s.value)}: expected a CAP_* name` +
          (hint === undefined ? "" : ` (did you mean ${hint}?)`),
      );
      ok = false;
    } else {
      values.push(cap.name);
      mask |= 1n << BigInt(cap.nr);
    }
  }
  if (type === undefined || operator === undefined || !ok) return undefined;
  return { at: r.ref(v), type, operator, isNamespaceCapability, values, mask };
}

/** Which action fields each action uses (others are ignored with a warning). */
const ACTION_FIELDS: Readonly<Record<string, readonly string[]>> = {
  Post: ["rateLimit", "rateLimitScope", "kernelStackTrace", "userStackTrace", "imaHash"],
  NoPost: [],
  Sigkill: [],
  CleanupEnforcerNotification: [],
  Signal: ["argSig"],
  Override: ["argError", "argRegs", "argNewSymbol", "argNewAddr", "argNewOffset"],
  GetUrl: ["argUrl"],
  DnsLookup: ["argFqdn"],
  TrackSock: ["argSock"],
  UntrackSock: ["argSock"],
  NotifyEnforcer: ["argError", "argSig"],
};

const POST_ONLY = ["rateLimit", "rateLimitScope", "kernelStackTrace", "userStackTrace", "imaHash"];

const LSM_ACTIONS = new Set(["Post", "NoPost", "Sigkill", "Signal", "Override"]);

/** Whether a field holds a non-zero value (Tetragon treats false, "" and 0 as unset). */
function isSet(f: Fields, name: string): boolean {
  const v = f.get(name);
  if (v === undefined || v.node === null) return false;
  const raw = (v.node as { value?: unknown }).value;
  return !(raw === false || raw === "" || raw === 0 || raw === 0n);
}

function decodeAction(
  r: Reader,
  v: Val,
  ctx: SelectorContext,
  atReturn: boolean,
): Action | undefined {
  const f = r.map(v, ACTION_SHAPE);
  if (f === undefined) return undefined;
  const text = r.requiredString(f, "action");
  if (text === undefined) return undefined;
  const actionAt = f.get("action") ?? f.at;
  const norm = normaliseActionName(text);
  if (norm === undefined) {
    const hint = suggest(text, ACTION_NAMES);
    r.error(
      actionAt,
      `unknown action ${JSON.stringify(text)}` +
        (hint === undefined ? "" : ` (did you mean ${JSON.stringify(hint)}?)`),
    );
    return undefined;
  }
  if (typeof norm === "object") {
    if (norm.valid) r.unrunnable(actionAt, norm.reason);
    else r.error(actionAt, norm.reason);
    return undefined;
  }
  const action = norm;
  let ok = true;
  for (const name of POST_ONLY) {
    if (action !== "Post" && isSet(f, name)) {
      r.error(f.key(name) ?? f.at, `${name} is only valid on the Post action, not ${action}`);
      ok = false;
    }
  }
  const used = ACTION_FIELDS[action] ?? [];
  for (const name of ACTION_SHAPE.fields) {
    if (name === "action" || POST_ONLY.includes(name) || used.includes(name)) continue;
    if (f.get(name) !== undefined) {
      r.warn(f.key(name) ?? f.at, `${name} is ignored by action ${action}`);
    }
  }
  if (ctx.hookKind === "lsm" && !LSM_ACTIONS.has(action)) {
    r.error(
      actionAt,
      `action ${action} is not supported on lsmhooks (Post, NoPost, Sigkill, Signal and Override are)`,
    );
    ok = false;
  }
  const at = r.ref(v);
  switch (action) {
    case "Post": {
      const rateText = r.string(f.get("rateLimit"));
      let rateLimitMs: number | undefined;
      if (rateText !== undefined && rateText !== "") {
        rateLimitMs = parseRateLimit(rateText);
        if (rateLimitMs === undefined) {
          r.error(
            f.get("rateLimit") ?? f.at,
            `rateLimit ${
              JSON.stringify(rateText)
            } is invalid: use seconds ("30"), or a number with ` +
              `s, m or h ("30s", "5m", "1h")`,
          );
          ok = false;
        }
      }
      const scopeText = r.string(f.get("rateLimitScope"));
      let rateLimitScope = normaliseRateLimitScope(
        scopeText === undefined || scopeText === "" ? "thread" : scopeText,
      );
      if (rateLimitScope === undefined) {
        r.error(
          f.get("rateLimitScope") ?? f.at,
          `rateLimitScope ${
            JSON.stringify(scopeText)
          } is invalid (expected thread, process or global)`,
        );
        ok = false;
        rateLimitScope = "thread";
      } else if (scopeText !== undefined && scopeText !== "" && rateLimitMs === undefined && ok) {
        r.warn(f.key("rateLimitScope") ?? f.at, "rateLimitScope is ignored without rateLimit");
      }
      const kernelStackTrace = r.bool(f.get("kernelStackTrace")) ?? false;
      const userStackTrace = r.bool(f.get("userStackTrace")) ?? false;
      const imaHash = r.bool(f.get("imaHash")) ?? false;
      if (ctx.hookKind === "lsm" && (kernelStackTrace || userStackTrace)) {
        r.error(
          f.key(kernelStackTrace ? "kernelStackTrace" : "userStackTrace") ?? f.at,
          "stack traces are not supported on lsmhooks",
        );
        ok = false;
      }
      if (imaHash && ctx.hookKind !== "lsm") {
        r.warn(f.key("imaHash") ?? f.at, "imaHash only has an effect on lsmhooks");
      }
      if (!ok) return undefined;
      return {
        at,
        action,
        ...(rateLimitMs === undefined ? {} : { rateLimitMs }),
        rateLimitScope,
        kernelStackTrace,
        userStackTrace,
        imaHash,
      };
    }
    case "Signal": {
      if (!f.has("argSig")) {
        r.missing(
          f,
          "argSig",
          "action Signal needs argSig (the signal number, e.g. 9 for SIGKILL)",
        );
        return undefined;
      }
      const argSig = r.integer(f.get("argSig"), 1, POLICY_LIMITS.maxSignal);
      return ok && argSig !== undefined ? { at, action, argSig } : undefined;
    }
    case "Override": {
      if (atReturn) {
        r.error(
          actionAt,
          "Override must run at function entry: use it in matchActions, not matchReturnActions",
        );
        ok = false;
      }
      if (ctx.hookKind === "tracepoint") {
        r.error(
          actionAt,
          "Override cannot change a tracepoint: use it on kprobes (syscalls, security_*), lsmhooks or uprobes",
        );
        ok = false;
      }
      if (
        (ctx.hookKind === "kprobe" || ctx.hookKind === "fentry") && !ctx.syscall &&
        !(ctx.call ?? "").startsWith("security_")
      ) {
        r.error(actionAt, "Override can be used only with syscalls and security_ hooks");
        ok = false;
      }
      const regs = r.strings(f.get("argRegs")).map((s) => s.value);
      if (regs.length > 0 && ctx.hookKind !== "uprobe") {
        r.error(f.key("argRegs") ?? f.at, "argRegs is only valid on uprobes");
        ok = false;
      }
      if (!f.has("argError") && regs.length === 0) {
        r.missing(
          f,
          "argError",
          "action Override needs argError (the return value to force, e.g. -1 for EPERM)",
        );
        return undefined;
      }
      const argError = r.integer(f.get("argError"), -0x8000_0000, 0x7fff_ffff) ??
        (f.has("argError") ? undefined : 0);
      if (!ok || argError === undefined) return undefined;
      return { at, action, argError, ...(regs.length > 0 ? { argRegs: regs } : {}) };
    }
    case "GetUrl": {
      const argUrl = r.requiredString(f, "argUrl");
      return ok && argUrl !== undefined ? { at, action, argUrl } : undefined;
    }
    case "DnsLookup": {
      const argFqdn = r.requiredString(f, "argFqdn");
      return ok && argFqdn !== undefined ? { at, action, argFqdn } : undefined;
    }
    case "TrackSock":
    case "UntrackSock": {
      const argSock = r.integer(f.get("argSock"), 0, POLICY_LIMITS.maxFunctionArgIndex) ?? 0;
      return ok ? { at, action, argSock } : undefined;
    }
    case "NotifyEnforcer": {
      if (!ctx.hasEnforcers) {
        r.error(actionAt, "NotifyEnforcer action specified, but spec contains no enforcers");
        ok = false;
      }
      const argError = r.integer(f.get("argError"), -0x8000_0000, 0x7fff_ffff);
      const argSig = r.integer(f.get("argSig"), 0, POLICY_LIMITS.maxSignal);
      if (!ok) return undefined;
      return {
        at,
        action,
        ...(argError === undefined ? {} : { argError }),
        ...(argSig === undefined ? {} : { argSig }),
      };
    }
    case "NoPost":
    case "Sigkill":
    case "CleanupEnforcerNotification":
      return ok ? { at, action } : undefined;
  }
}

function decodeActions(r: Reader, all: Val[], ctx: SelectorContext, atReturn: boolean): Action[] {
  const name = atReturn ? "matchReturnActions" : "matchActions";
  const items = limitItems(
    r,
    all,
    POLICY_LIMITS.actionsPerSelector,
    `at most ${POLICY_LIMITS.actionsPerSelector} actions per selector in ${name} (Tetragon's limit); found {n}`,
  );
  return items.flatMap((item) => decodeAction(r, item, ctx, atReturn) ?? []);
}

function decodeSelector(r: Reader, v: Val, ctx: SelectorContext): Selector | undefined {
  const f = r.map(v, SELECTOR_SHAPE);
  if (f === undefined) return undefined;
  const errorsBefore = r.errors.length;
  const label = r.string(f.get("label"));

  const argItems = r.seq(f.get("matchArgs"));
  const dataItems = r.seq(f.get("matchData"));
  if (argItems.length + dataItems.length > POLICY_LIMITS.argFiltersPerSelector) {
    const extra = [...argItems, ...dataItems][POLICY_LIMITS.argFiltersPerSelector];
    if (extra !== undefined) {
      r.error(
        extra,
        `at most ${POLICY_LIMITS.argFiltersPerSelector} matchArgs + matchData entries per selector ` +
          `(Tetragon's limit); found ${argItems.length + dataItems.length}`,
      );
    }
  }
  if (dataItems.length > 0 && ctx.data.length === 0) {
    r.error(
      f.get("matchData") ?? f.at,
      "matchData filters the hook's data entries, but the hook has no data",
    );
  }
  const matchArgs = argItems.flatMap((item) => decodeArgFilter(r, item, "matchArgs", ctx) ?? []);
  const matchData = ctx.data.length === 0
    ? []
    : dataItems.flatMap((item) => decodeArgFilter(r, item, "matchData", ctx) ?? []);

  const returnArgItems = r.seq(f.get("matchReturnArgs"));
  const returnActionItems = r.seq(f.get("matchReturnActions"));
  let matchReturnArgs: ArgFilter[] = [];
  let matchReturnActions: Action[] = [];
  if ((returnArgItems.length > 0 || returnActionItems.length > 0) && ctx.returnArg === undefined) {
    const field = returnArgItems.length > 0 ? "matchReturnArgs" : "matchReturnActions";
    r.error(
      f.key(field) ?? f.at,
      ctx.hookKind === "tracepoint" || ctx.hookKind === "lsm"
        ? `${field} is not supported on ${ctx.hookKind === "lsm" ? "lsmhooks" : "tracepoints"}`
        : `${field} needs the hook to have return: true and a returnArg`,
    );
  } else {
    const within = limitItems(
      r,
      returnArgItems,
      POLICY_LIMITS.argFiltersPerSelector,
      `at most ${POLICY_LIMITS.argFiltersPerSelector} matchReturnArgs entries per selector (Tetragon's limit); found {n}`,
    );
    matchReturnArgs = within.flatMap((item) =>
      decodeArgFilter(r, item, "matchReturnArgs", ctx) ?? []
    );
    matchReturnActions = decodeActions(r, returnActionItems, ctx, true);
  }

  const pidItems = r.seq(f.get("matchPIDs"));
  const matchPIDs = pidItems.flatMap((item) => decodePids(r, item) ?? []);

  const binItems = r.seq(f.get("matchBinaries"));
  const extraBin = binItems[POLICY_LIMITS.matchBinariesPerSelector];
  if (extraBin !== undefined) {
    r.error(
      extraBin,
      `only one matchBinaries entry per selector (Tetragon's limit); found ${binItems.length}: put ` +
        `the paths in the values of one entry, or use one selector per entry`,
    );
  }
  const firstBin = binItems[0];
  const matchBinaries = firstBin === undefined ? undefined : decodeBinaries(r, firstBin, ctx);

  const parentItems = r.seq(f.get("matchParentBinaries"));
  const extraParent = parentItems[POLICY_LIMITS.matchBinariesPerSelector];
  if (extraParent !== undefined) {
    r.error(
      extraParent,
      `only one matchParentBinaries entry per selector; found ${parentItems.length}: put the ` +
        `paths in the values of one entry, or use one selector per entry`,
    );
  }
  const firstParent = parentItems[0];
  const matchParentBinaries = firstParent === undefined
    ? undefined
    : decodeBinaries(r, firstParent, ctx, "matchParentBinaries");

  const nsItems = limitItems(
    r,
    r.seq(f.get("matchNamespaces")),
    POLICY_LIMITS.namespaceEntriesPerSelector,
    `at most ${POLICY_LIMITS.namespaceEntriesPerSelector} matchNamespaces entries per selector (Tetragon's limit); found {n}`,
  );
  const matchNamespaces = nsItems.flatMap((item) => decodeNamespaces(r, item) ?? []);

  const nsChangeItems = limitItems(
    r,
    r.seq(f.get("matchNamespaceChanges")),
    POLICY_LIMITS.namespaceChangesPerSelector,
    "only one matchNamespaceChanges entry per selector (Tetragon's limit); found {n}",
  );
  const firstChange = nsChangeItems[0];
  const matchNamespaceChanges = firstChange === undefined
    ? undefined
    : decodeNamespaceChanges(r, firstChange);

  const matchCapabilities = r.seq(f.get("matchCapabilities")).flatMap((item) =>
    decodeCapabilities(r, item, "matchCapabilities") ?? []
  );
  const matchCapabilityChanges = r.seq(f.get("matchCapabilityChanges")).flatMap((item) =>
    decodeCapabilities(r, item, "matchCapabilityChanges") ?? []
  );
  const matchActions = decodeActions(r, r.seq(f.get("matchActions")), ctx, false);

  if (r.errors.length > errorsBefore) return undefined;
  return {
    at: r.ref(v),
    ...(label === undefined || label === "" ? {} : { label }),
    matchPIDs,
    matchArgs,
    matchData,
    matchReturnArgs,
    ...(matchBinaries === undefined ? {} : { matchBinaries }),
    ...(matchParentBinaries === undefined ? {} : { matchParentBinaries }),
    matchNamespaces,
    ...(matchNamespaceChanges === undefined ? {} : { matchNamespaceChanges }),
    matchCapabilities,
    matchCapabilityChanges,
    matchActions,
    matchReturnActions,
  };
}

/** Decodes a hook's `selectors` (at most 5). */
export function decodeSelectors(r: Reader, v: Val | undefined, ctx: SelectorContext): Selector[] {
  const items = limitItems(
    r,
    r.seq(v),
    POLICY_LIMITS.selectorsPerHook,
    `at most ${POLICY_LIMITS.selectorsPerHook} selectors per hook (Tetragon's limit); found {n}`,
  );
  return items.flatMap((item) => decodeSelector(r, item, ctx) ?? []);
}
