/**
 * Decodes the hooks of a policy (`kprobes`, `fentries`, `tracepoints`, `lsmhooks`, `uprobes`):
 * their args, message, tags and selectors, with Tetragon's defaults and rules.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { ARG_TYPES, normaliseArgType } from "../vocab/mod.ts";
import { POLICY_LIMITS } from "../vocab/mod.ts";
import { is32BitSyscall, resolveSyscall, syscall32NotRunnable } from "../vocab/mod.ts";
import type {
  CallTarget,
  HookArg,
  KprobeHook,
  LsmHook,
  Selector,
  TracepointHook,
  UprobeHook,
} from "./types.ts";
import { type ArgSlot, decodeSelectors, type SelectorContext } from "./read_selectors.ts";
import type { ListIndex } from "./read_values.ts";
import { type Fields, type Reader, suggest, type Val } from "./yaml_reader.ts";

/** Policy-wide context hooks need. */
export interface HookEnv {
  readonly lists: ListIndex;
  readonly hasEnforcers: boolean;
  readonly followChildren: { count: number };
}

type HookKind = SelectorContext["hookKind"];
type ArgRole = "args" | "data" | "returnArg";

const ARG_SHAPE = {
  fields: [
    "index",
    "type",
    "label",
    "resolve",
    "sizeArgIndex",
    "returnCopy",
    "maxData",
    "source",
    "btfType",
    "btfTypeModule",
  ],
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function byteLength(s: string): number {
  return encoder.encode(s).length;
}

/** Truncates to at most `max` UTF-8 bytes without splitting a character. */
function truncateBytes(s: string, max: number): string {
  const bytes = encoder.encode(s);
  if (bytes.length <= max) return s;
  let end = max;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.slice(0, end));
}

const HOOK_LISTS: Readonly<Record<HookKind, string>> = {
  kprobe: "kprobes",
  fentry: "fentries",
  tracepoint: "tracepoints",
  uprobe: "uprobes",
  lsm: "lsmhooks",
};

function decodeArg(
  r: Reader,
  v: Val,
  kind: HookKind,
  role: ArgRole,
): { arg?: HookArg; slot: ArgSlot } {
  const f = r.map(v, ARG_SHAPE);
  if (f === undefined) return { slot: { index: -1, type: undefined } };
  const errorsBefore = r.errors.length;
  let index = 0;
  if (f.get("index") === undefined) {
    if (role !== "returnArg") r.missing(f, "index");
  } else {
    index = r.integer(f.get("index"), 0, 0xffff_ffff) ?? -1;
  }
  const functionArgs = kind !== "tracepoint" && role === "args";
  if (functionArgs && index > POLICY_LIMITS.maxFunctionArgIndex) {
    r.error(
      f.get("index") ?? f.at,
      `index ${index} is out of bounds: ${HOOK_LISTS[kind]} read function arguments 0..` +
        `${POLICY_LIMITS.maxFunctionArgIndex}`,
    );
  }

  const typeText = r.string(f.get("type"));
  const typeWritten = typeText === undefined || typeText === "" ? "auto" : typeText;
  const typeAt = f.get("type") ?? f.at;
  let type = normaliseArgType(typeWritten);
  if (type === undefined) {
    const hint = suggest(typeWritten, ARG_TYPES);
    r.error(
      typeAt,
      `unknown arg type ${JSON.stringify(typeWritten)}` +
        (hint === undefined ? "" : ` (did you mean ${JSON.stringify(hint)}?)`),
    );
  } else if (kind === "kprobe" && role === "args" && (type === "auto" || type === "syscall64")) {
    const message = type === "auto"
      ? `type 'auto' is invalid for kprobes${
        f.get("type") === undefined ? " (it is the default when type is omitted)" : ""
      }: name the arg's type, e.g. int, string or file`
      : "type 'syscall64' is invalid for kprobes: it is for the syscall id of raw_syscalls tracepoints";
    if (f.get("type") === undefined) r.missing(f, "type", message);
    else r.error(typeAt, message);
    type = undefined;
  }

  const label = r.string(f.get("label"));
  const resolve = r.string(f.get("resolve"));
  const btfType = r.string(f.get("btfType"));
  const btfTypeModule = r.string(f.get("btfTypeModule"));
  const sizeArgIndex = r.integer(f.get("sizeArgIndex"), 0, POLICY_LIMITS.maxSizeArgIndex);
  const returnCopy = r.bool(f.get("returnCopy")) ?? false;
  const maxData = r.bool(f.get("maxData")) ?? false;
  const bufferType = type === "char_buf" || type === "char_iovec";
  if (sizeArgIndex !== undefined && sizeArgIndex > 0 && type !== undefined && !bufferType) {
    r.warn(
      f.key("sizeArgIndex") ?? f.at,
      "sizeArgIndex is only used by char_buf and char_iovec args",
    );
  }
  if (returnCopy && type !== undefined && !bufferType) {
    r.warn(f.key("returnCopy") ?? f.at, "returnCopy is only used by char_buf and char_iovec args");
  }
  if (maxData && type !== undefined && type !== "char_buf") {
    r.warn(f.key("maxData") ?? f.at, "maxData is ignored: it only applies to char_buf args");
  }
  if (maxData && returnCopy) {
    r.error(f.key("maxData") ?? f.at, "maxData cannot be combined with returnCopy");
  }

  const sourceText = r.string(f.get("source"));
  let source: HookArg["source"];
  if (role === "data") {
    if (sourceText === "current_task" || sourceText === "pt_regs") {
      source = sourceText;
    } else if (sourceText === undefined || sourceText === "") {
      r.missing(f, "source", "data entries need source: current_task or pt_regs");
    } else {
      r.error(
        f.get("source") ?? f.at,
        `data argument has wrong source ${
          JSON.stringify(sourceText)
        } (expected current_task or pt_regs)`,
      );
    }
    if (resolve === undefined || resolve === "") {
      r.missing(f, "resolve", "data entries need resolve (the BTF path to read)");
    }
  } else if (sourceText !== undefined && sourceText !== "") {
    r.error(f.key("source") ?? f.at, "source is only allowed on data entries, not on args");
  }

  const slot: ArgSlot = { index, type };
  if (r.errors.length > errorsBefore || type === undefined) return { slot };
  const arg: HookArg = {
    at: r.ref(v),
    index,
    type,
    typeWritten,
    ...(label === undefined || label === "" ? {} : { label }),
    ...(resolve === undefined || resolve === "" ? {} : { resolve }),
    ...(btfType === undefined || btfType === "" ? {} : { btfType }),
    ...(btfTypeModule === undefined || btfTypeModule === "" ? {} : { btfTypeModule }),
    ...(sizeArgIndex === undefined || sizeArgIndex === 0 ? {} : { sizeArgIndex }),
    returnCopy,
    maxData,
    ...(source === undefined ? {} : { source }),
  };
  return { arg, slot };
}

interface DecodedArgs {
  readonly args: HookArg[];
  readonly slots: ArgSlot[];
}

/** Decodes `args` or `data` entries of a hook (also used for usdts, which are not planned). */
export function decodeArgList(r: Reader, items: Val[], kind: HookKind, role: ArgRole): DecodedArgs {
  const args: HookArg[] = [];
  const slots: ArgSlot[] = [];
  for (const item of items) {
    const { arg, slot } = decodeArg(r, item, kind, role);
    slots.push(slot);
    if (arg !== undefined) args.push(arg);
  }
  return { args, slots };
}

/** Reports args + data beyond Tetragon's 5 slots, at the first extra entry. */
function checkArgCount(r: Reader, argItems: Val[], dataItems: Val[]): void {
  const all = [...argItems, ...dataItems];
  const extra = all[POLICY_LIMITS.argsPerHook];
  if (extra !== undefined) {
    r.error(
      extra,
      `at most ${POLICY_LIMITS.argsPerHook} args and data entries per hook (Tetragon's limit); found ` +
        `${all.length}`,
    );
  }
}

function decodeMessage(r: Reader, f: Fields): string | undefined {
  const v = f.get("message");
  const message = r.string(v);
  if (message === undefined || message === "" || v === undefined) return undefined;
  const n = byteLength(message);
  if (n < POLICY_LIMITS.messageMinBytes) {
    r.error(v, `message is too short: at least ${POLICY_LIMITS.messageMinBytes} characters`);
    return undefined;
  }
  if (n > POLICY_LIMITS.messageMaxBytes) {
    r.warn(v, `message is ${n} bytes; truncated to ${POLICY_LIMITS.messageMaxBytes}`);
    return truncateBytes(message, POLICY_LIMITS.messageMaxBytes);
  }
  return message;
}

function decodeTags(r: Reader, f: Fields): string[] {
  const all = r.strings(f.get("tags"));
  const extra = all[POLICY_LIMITS.tagsPerHook];
  if (extra !== undefined) {
    r.error(
      extra.at,
      `at most ${POLICY_LIMITS.tagsPerHook} tags per hook (Tetragon's limit); found ${all.length}`,
    );
  }
  const tags: string[] = [];
  for (const t of all.slice(0, POLICY_LIMITS.tagsPerHook)) {
    const n = byteLength(t.value);
    if (n < POLICY_LIMITS.tagMinBytes) {
      r.error(
        t.at,
        `tag ${
          JSON.stringify(t.value)
        } is too short: at least ${POLICY_LIMITS.tagMinBytes} characters`,
      );
    } else if (n > POLICY_LIMITS.tagMaxBytes) {
      r.warn(t.at, `tag is ${n} bytes; truncated to ${POLICY_LIMITS.tagMaxBytes}`);
      tags.push(truncateBytes(t.value, POLICY_LIMITS.tagMaxBytes));
    } else {
      tags.push(t.value);
    }
  }
  return tags;
}

function looksLikeSyscall(call: string): boolean {
  return call.startsWith("sys_") || call.startsWith("__x64_sys_") ||
    call.startsWith("__ia32_sys_") ||
    call.startsWith("__x32_") || call.startsWith("__arm64_sys_");
}

interface CallResolution {
  readonly syscall: boolean;
  readonly targets: CallTarget[];
  readonly callList?: string;
}

function resolveCall(
  r: Reader,
  f: Fields,
  call: string,
  syscallWritten: boolean | undefined,
  env: HookEnv,
): CallResolution | undefined {
  const callAt = f.get("call") ?? f.at;
  const syscall = syscallWritten ?? true;
  if (call.startsWith("list:")) {
    const name = call.slice("list:".length);
    const list = env.lists.get(name);
    if (list === undefined) {
      r.error(
        callAt,
        `list '${call}' not found: spec.lists has no entry named ${JSON.stringify(name)}`,
      );
      return undefined;
    }
    if (list === null) return undefined;
    if (list.syscalls !== undefined) {
      if (syscallWritten === false) {
        r.warn(
          f.key("syscall") ?? f.at,
          `syscall: false is ignored: list '${name}' is a syscall list, which forces syscall: true`,
        );
      }
      const targets = list.type === "generated_syscalls"
        ? list.syscalls.map((s) => ({ written: `sys_${s.name}`, syscall: s }))
        : list.values.map((written, i) => {
          const s = list.syscalls?.[i];
          return s === undefined ? { written } : { written, syscall: s };
        });
      return { syscall: true, targets, callList: name };
    }
    if (syscall) {
      r.warn(
        f.key("syscall") ?? callAt,
        `list '${name}' is not a syscall list, but syscall is ${
          syscallWritten === undefined ? "true (Tetragon's CRD default)" : "true"
        }: set syscall: false`,
      );
    }
    return {
      syscall,
      targets: list.type === "generated_ftrace" ? [] : list.values.map((written) => ({ written })),
      callList: name,
    };
  }
  if (!syscall) {
    if (looksLikeSyscall(call)) {
      r.warn(
        f.key("syscall") ?? callAt,
        `'${call}' looks like a syscall, but syscall is false: the kprobe attaches to the symbol as ` +
          `written, which x86_64 kernels do not have; set syscall: true`,
      );
    }
    return { syscall, targets: [{ written: call }] };
  }
  if (is32BitSyscall(call)) {
    r.unrunnable(callAt, syscall32NotRunnable(call));
    return undefined;
  }
  const res = resolveSyscall(call);
  if (res.syscall !== undefined) {
    if (!looksLikeSyscall(call)) {
      r.warn(callAt, `syscall hooks are written with the sys_ prefix: use 'sys_${call}'`);
    }
    return { syscall, targets: [{ written: call, syscall: res.syscall }] };
  }
  if (
    call.startsWith("__ia32_") || call.startsWith("__x32_") || call.startsWith("__arm64_") ||
    call.includes("/")
  ) {
    r.error(callAt, res.error);
    return undefined;
  }
  if (looksLikeSyscall(call)) {
    r.warn(
      callAt,
      `${res.error} in vigil's table (from the kernel headers); it is looked up in the kernel at load`,
    );
  } else {
    r.warn(
      f.key("syscall") ?? callAt,
      `syscall is ${
        syscallWritten === undefined ? "true (Tetragon's CRD default)" : "true"
      }, but '${call}' is not a syscall: set syscall: false for kernel functions`,
    );
  }
  return { syscall, targets: [{ written: call }] };
}

const KPROBE_SHAPE = {
  fields: [
    "call",
    "syscall",
    "return",
    "args",
    "data",
    "returnArg",
    "returnArgAction",
    "selectors",
    "message",
    "tags",
    "ignore",
  ],
} as const;

/** Decodes one `kprobes[]` or `fentries[]` entry. */
export function decodeKprobe(
  r: Reader,
  v: Val,
  kind: "kprobe" | "fentry",
  env: HookEnv,
): KprobeHook | undefined {
  const f = r.map(v, KPROBE_SHAPE);
  if (f === undefined) return undefined;
  const errorsBefore = r.errors.length;
  const call = r.requiredString(f, "call");
  const syscallWritten = r.bool(f.get("syscall"));
  const resolved = call === undefined ? undefined : resolveCall(r, f, call, syscallWritten, env);
  const syscall = resolved?.syscall ?? syscallWritten ?? true;

  const ret = r.bool(f.get("return")) ?? false;
  const returnArgVal = f.get("returnArg");
  const returnArgDecoded = returnArgVal === undefined || returnArgVal.node === null
    ? undefined
    : decodeArg(r, returnArgVal, kind, "returnArg");
  if (ret && returnArgDecoded === undefined) {
    r.error(
      f.get("return") ?? f.at,
      "return: true needs a returnArg (Tetragon rejects it: ReturnArg not specified with Return=true)",
    );
  }
  if (!ret && returnArgDecoded !== undefined) {
    r.warn(f.key("returnArg") ?? f.at, "returnArg is ignored without return: true");
  }
  const actionText = r.string(f.get("returnArgAction"));
  let returnArgAction: KprobeHook["returnArgAction"];
  if (actionText !== undefined && actionText !== "") {
    const lower = actionText.toLowerCase();
    returnArgAction = lower === "post"
      ? "Post"
      : lower === "tracksock"
      ? "TrackSock"
      : lower === "untracksock"
      ? "UntrackSock"
      : undefined;
    if (returnArgAction === undefined) {
      r.error(
        f.get("returnArgAction") ?? f.at,
        `returnArgAction ${
          JSON.stringify(actionText)
        } is unsupported (expected TrackSock, UntrackSock or Post)`,
      );
    }
  }

  const argItems = r.seq(f.get("args"));
  const dataItems = r.seq(f.get("data"));
  checkArgCount(r, argItems, dataItems);
  const args = decodeArgList(r, argItems, kind, "args");
  const data = decodeArgList(r, dataItems, kind, "data");
  const message = decodeMessage(r, f);
  const tags = decodeTags(r, f);
  const ignoreVal = f.get("ignore");
  const ignore = ignoreVal === undefined
    ? undefined
    : r.map(ignoreVal, { fields: ["callNotFound"] });
  const ignoreCallNotFound = r.bool(ignore?.get("callNotFound")) ?? false;

  const selectors: Selector[] = decodeSelectors(r, f.get("selectors"), {
    hookKind: kind,
    args: args.slots,
    data: data.slots,
    ...(ret && returnArgDecoded !== undefined ? { returnArg: returnArgDecoded.slot } : {}),
    syscall,
    ...(call === undefined ? {} : { call }),
    lists: env.lists,
    hasEnforcers: env.hasEnforcers,
    followChildren: env.followChildren,
  });

  if (r.errors.length > errorsBefore || call === undefined || resolved === undefined) {
    return undefined;
  }
  return {
    kind,
    at: r.ref(v),
    call,
    ...(resolved.callList === undefined ? {} : { callList: resolved.callList }),
    targets: resolved.targets,
    syscall,
    return: ret,
    ...(ret && returnArgDecoded?.arg !== undefined ? { returnArg: returnArgDecoded.arg } : {}),
    ...(returnArgAction === undefined ? {} : { returnArgAction }),
    args: args.args,
    data: data.args,
    ...(message === undefined ? {} : { message }),
    tags,
    selectors,
    ignoreCallNotFound,
  };
}

const TRACEPOINT_SHAPE = {
  fields: ["subsystem", "event", "raw", "args", "message", "tags", "selectors"],
} as const;

/** Decodes one `tracepoints[]` entry. */
export function decodeTracepoint(r: Reader, v: Val, env: HookEnv): TracepointHook | undefined {
  const f = r.map(v, TRACEPOINT_SHAPE);
  if (f === undefined) return undefined;
  const errorsBefore = r.errors.length;
  const subsystem = r.requiredString(f, "subsystem");
  const event = r.requiredString(f, "event");
  const raw = r.bool(f.get("raw")) ?? false;
  const argItems = r.seq(f.get("args"));
  checkArgCount(r, argItems, []);
  const args = decodeArgList(r, argItems, "tracepoint", "args");
  const message = decodeMessage(r, f);
  const tags = decodeTags(r, f);
  const selectors = decodeSelectors(r, f.get("selectors"), {
    hookKind: "tracepoint",
    args: args.slots,
    data: [],
    syscall: false,
    lists: env.lists,
    hasEnforcers: env.hasEnforcers,
    followChildren: env.followChildren,
  });
  if (r.errors.length > errorsBefore || subsystem === undefined || event === undefined) {
    return undefined;
  }
  return {
    kind: "tracepoint",
    at: r.ref(v),
    subsystem,
    event,
    raw,
    args: args.args,
    ...(message === undefined ? {} : { message }),
    tags,
    selectors,
  };
}

const LSM_SHAPE = { fields: ["hook", "args", "message", "tags", "selectors"] } as const;

/** Decodes one `lsmhooks[]` entry. */
export function decodeLsmHook(r: Reader, v: Val, env: HookEnv): LsmHook | undefined {
  const f = r.map(v, LSM_SHAPE);
  if (f === undefined) return undefined;
  const errorsBefore = r.errors.length;
  const hook = r.requiredString(f, "hook");
  if (hook !== undefined && hook.startsWith("security_")) {
    r.error(
      f.get("hook") ?? f.at,
      `LSM hook names have no security_ prefix: use ${
        JSON.stringify(hook.slice("security_".length))
      }`,
    );
  }
  const argItems = r.seq(f.get("args"));
  checkArgCount(r, argItems, []);
  const args = decodeArgList(r, argItems, "lsm", "args");
  const message = decodeMessage(r, f);
  const tags = decodeTags(r, f);
  const selectors = decodeSelectors(r, f.get("selectors"), {
    hookKind: "lsm",
    args: args.slots,
    data: [],
    syscall: false,
    lists: env.lists,
    hasEnforcers: env.hasEnforcers,
    followChildren: env.followChildren,
  });
  if (r.errors.length > errorsBefore || hook === undefined) return undefined;
  return {
    kind: "lsm",
    at: r.ref(v),
    hook,
    args: args.args,
    ...(message === undefined ? {} : { message }),
    tags,
    selectors,
  };
}

const UPROBE_SHAPE = {
  fields: [
    "path",
    "symbols",
    "offsets",
    "addrs",
    "refCtrOffsets",
    "btfPath",
    "args",
    "data",
    "return",
    "returnArg",
    "message",
    "tags",
    "selectors",
    "binaryDigests",
    "ignore",
  ],
  unsupported: {
    symbol: "uprobes take a list of symbols: use symbols: [NAME]",
  },
  notRunnable: {
    resolvePathInContainer: "resolvePathInContainer (Tetragon 1.7) is valid Tetragon that vigil " +
      "cannot resolve yet: not runnable",
  },
} as const;

const U64_MAX = (1n << 64n) - 1n;

function decodeU64List(r: Reader, v: Val | undefined): bigint[] {
  return r.seq(v).flatMap((item) => r.bigint(item, 0n, U64_MAX) ?? []);
}

/** Decodes one `uprobes[]` entry. */
export function decodeUprobe(r: Reader, v: Val, env: HookEnv): UprobeHook | undefined {
  const f = r.map(v, UPROBE_SHAPE);
  if (f === undefined) return undefined;
  const errorsBefore = r.errors.length;
  const path = r.requiredString(f, "path");
  const symbols = r.strings(f.get("symbols")).map((s) => s.value);
  const offsets = decodeU64List(r, f.get("offsets"));
  const addrs = decodeU64List(r, f.get("addrs"));
  const refCtrOffsets = decodeU64List(r, f.get("refCtrOffsets"));
  const given = [
    ["symbols", symbols.length],
    ["offsets", offsets.length],
    ["addrs", addrs.length],
  ].filter(([, n]) => n !== 0);
  if (given.length === 0) {
    r.missing(f, "symbols", "a uprobe needs one of symbols, offsets or addrs");
  } else if (given.length > 1) {
    r.error(
      f.key(String(given[1]?.[0])) ?? f.at,
      "uprobe needs at most one of symbols, addrs or offsets defined",
    );
  }
  if (refCtrOffsets.length > 0) {
    const other = symbols.length > 0 ? symbols.length : offsets.length;
    if (other !== refCtrOffsets.length) {
      r.error(
        f.get("refCtrOffsets") ?? f.at,
        `refCtrOffsets has ${refCtrOffsets.length} entries but there are ${other} symbols/offsets`,
      );
    }
  }
  const btfPath = r.string(f.get("btfPath"));
  const ret = r.bool(f.get("return")) ?? false;
  const returnArgVal = f.get("returnArg");
  const returnArgDecoded = returnArgVal === undefined || returnArgVal.node === null
    ? undefined
    : decodeArg(r, returnArgVal, "uprobe", "returnArg");
  if (ret && returnArgDecoded === undefined) {
    r.error(
      f.get("return") ?? f.at,
      "return: true needs a returnArg (ReturnArg not specified with Return=true)",
    );
  }
  const argItems = r.seq(f.get("args"));
  const dataItems = r.seq(f.get("data"));
  checkArgCount(r, argItems, dataItems);
  const args = decodeArgList(r, argItems, "uprobe", "args");
  const data = decodeArgList(r, dataItems, "uprobe", "data");
  const message = decodeMessage(r, f);
  const tags = decodeTags(r, f);
  const binaryDigests = r.strings(f.get("binaryDigests")).map((s) => s.value);
  const ignoreVal = f.get("ignore");
  const ignore = ignoreVal === undefined
    ? undefined
    : r.map(ignoreVal, { fields: ["digestVerificationFailure"] });
  const ignoreDigestVerificationFailure = r.bool(ignore?.get("digestVerificationFailure")) ?? false;
  const selectors = decodeSelectors(r, f.get("selectors"), {
    hookKind: "uprobe",
    args: args.slots,
    data: data.slots,
    ...(ret && returnArgDecoded !== undefined ? { returnArg: returnArgDecoded.slot } : {}),
    syscall: false,
    lists: env.lists,
    hasEnforcers: env.hasEnforcers,
    followChildren: env.followChildren,
  });
  if (r.errors.length > errorsBefore || path === undefined) return undefined;
  return {
    kind: "uprobe",
    at: r.ref(v),
    path,
    symbols,
    offsets,
    addrs,
    refCtrOffsets,
    ...(btfPath === undefined || btfPath === "" ? {} : { btfPath }),
    args: args.args,
    data: data.args,
    return: ret,
    ...(ret && returnArgDecoded?.arg !== undefined ? { returnArg: returnArgDecoded.arg } : {}),
    ...(message === undefined ? {} : { message }),
    tags,
    selectors,
    binaryDigests,
    ignoreDigestVerificationFailure,
  };
}
