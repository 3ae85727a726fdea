/**
 * Decodes `spec`: lists first (hooks and selectors refer to them), then options, enforcers, hooks
 * and the pod/container/host selectors.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { allSyscalls, is32BitSyscall, resolveSyscall, syscall32NotRunnable } from "../vocab/mod.ts";
import { POLICY_LIMITS } from "../vocab/mod.ts";
import { parseCpuShare } from "../vocab/cpu_share.ts";
import type {
  Enforcer,
  LabelExpression,
  LabelSelector,
  ListType,
  PolicyKind,
  PolicyList,
  PolicyOptions,
  PolicySpec,
  SyscallRef,
} from "./types.ts";
import {
  decodeKprobe,
  decodeLsmHook,
  decodeTracepoint,
  decodeUprobe,
  type HookEnv,
} from "./read_hooks.ts";
import type { ListIndex } from "./read_values.ts";
import { decodeUsdts } from "./read_usdts.ts";
import type { Reader, Val } from "./yaml_reader.ts";

const SPEC_SHAPE = {
  fields: [
    "kprobes",
    "tracepoints",
    "uprobes",
    "lsmhooks",
    "lists",
    "enforcers",
    "options",
    "podSelector",
    "containerSelector",
    "loader",
    "fentries",
    "hostSelector",
    "usdts",
  ],
  notRunnable: {
    selectorsMacros: "selectorsMacros (Tetragon 1.7) are valid Tetragon that vigil cannot expand " +
      "yet: not runnable",
    nodeSelector:
      "nodeSelector (which Kubernetes nodes load the policy) is valid Tetragon; vigil " +
      "runs on one host and has no node labels to match it against: not runnable",
  },
} as const;

const LIST_TYPES: Readonly<Record<string, ListType>> = {
  "": "none",
  syscalls: "syscalls",
  generated_syscalls: "generated_syscalls",
  generated_ftrace: "generated_ftrace",
};

function decodeList(r: Reader, v: Val): { name?: string; list?: PolicyList } {
  const f = r.map(v, { fields: ["name", "type", "values", "pattern", "validated"] });
  if (f === undefined) return {};
  const errorsBefore = r.errors.length;
  const name = r.requiredString(f, "name");
  const typeText = r.string(f.get("type")) ?? "";
  const type = LIST_TYPES[typeText.toLowerCase()];
  if (type === undefined) {
    r.error(
      f.get("type") ?? f.at,
      `invalid list type ${
        JSON.stringify(typeText)
      } (expected syscalls, generated_syscalls or generated_ftrace)`,
    );
  }
  r.bool(f.get("validated"));
  const values = r.strings(f.get("values"));
  const pattern = r.string(f.get("pattern"));
  const label = name === undefined ? "" : ` '${name}'`;
  let syscalls: SyscallRef[] | undefined;
  if (type === "generated_syscalls" || type === "generated_ftrace") {
    const first = values[0];
    if (first !== undefined) {
      r.error(first.at, `generated list${label} must not have values: they are generated at load`);
    }
  }
  if (type === "generated_syscalls") syscalls = [...allSyscalls()];
  if (type === "generated_ftrace" && (pattern === undefined || pattern === "")) {
    r.missing(f, "pattern", `generated ftrace list${label} must specify pattern`);
  }
  if (type !== "generated_ftrace" && pattern !== undefined && pattern !== "") {
    r.warn(f.key("pattern") ?? f.at, "pattern is only used by generated_ftrace lists; ignored");
  }
  if (type === "syscalls") {
    syscalls = [];
    for (const s of values) {
      if (is32BitSyscall(s.value)) {
        r.unrunnable(s.at, syscall32NotRunnable(s.value));
        continue;
      }
      const res = resolveSyscall(s.value);
      if (res.syscall === undefined) {
        r.error(s.at, `list${label} cannot translate syscall: ${res.error}`);
      } else {
        syscalls.push(res.syscall);
      }
    }
  }
  if (type === "syscalls" && values.length === 0) {
    r.warn(f.get("values") ?? f.at, `syscall list${label} is empty`);
  }
  if (name === undefined || type === undefined || r.errors.length > errorsBefore) {
    return name === undefined ? {} : { name };
  }
  return {
    name,
    list: {
      at: r.ref(v),
      name,
      type,
      values: values.map((s) => s.value),
      ...(type === "generated_ftrace" && pattern !== undefined ? { pattern } : {}),
      ...(syscalls === undefined ? {} : { syscalls }),
    },
  };
}

function decodeLists(r: Reader, v: Val | undefined): { lists: PolicyList[]; index: ListIndex } {
  const index = new Map<string, PolicyList | null>();
  const lists: PolicyList[] = [];
  for (const item of r.seq(v)) {
    const { name, list } = decodeList(r, item);
    if (name === undefined) continue;
    if (index.has(name)) {
      r.error(item, `duplicate list name ${JSON.stringify(name)}: list names must be unique`);
      continue;
    }
    index.set(name, list ?? null);
    if (list !== undefined) lists.push(list);
  }
  return { lists, index };
}

const GO_BOOLS: Readonly<Record<string, boolean>> = {
  "1": true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  "0": false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

function decodeOptions(r: Reader, v: Val | undefined): PolicyOptions {
  const raw: Array<{ name: string; value: string }> = [];
  let policyMode: PolicyOptions["policyMode"] = "enforce";
  let disableKprobeMulti = false;
  let disableUprobeMulti = false;
  let overrideMethod: string | undefined;
  let cpuBudget: number | undefined;
  for (const item of r.seq(v)) {
    const f = r.map(item, { fields: ["name", "value"] });
    if (f === undefined) continue;
    const name = r.requiredString(f, "name");
    const value = r.string(f.get("value")) ?? "";
    if (name === undefined) continue;
    raw.push({ name, value });
    const valueAt = f.get("value") ?? f.missing("value");
    switch (name) {
      case "disable-kprobe-multi":
      case "disable-uprobe-multi": {
        const b = Object.hasOwn(GO_BOOLS, value) ? GO_BOOLS[value] : undefined;
        if (b === undefined) {
          r.error(
            valueAt,
            `option ${name} needs a boolean value ("true" or "false"), got ${
              JSON.stringify(value)
            }`,
          );
        } else if (name === "disable-kprobe-multi") {
          disableKprobeMulti = b;
        } else {
          disableUprobeMulti = b;
        }
        break;
      }
      case "policy-mode":
        if (value === "enforce" || value === "monitor") policyMode = value;
        else {r.error(
            valueAt,
            `policy-mode must be enforce or monitor, got ${JSON.stringify(value)}`,
          );}
        break;
      case "override-method":
        overrideMethod = value;
        break;
      case "vigil-cpu-budget": {
        const share = parseCpuShare(value);
        if (typeof share === "string") r.error(valueAt, `option vigil-cpu-budget: ${share}`);
        else cpuBudget = share;
        break;
      }
      default:
        r.warn(f.get("name") ?? f.at, `unknown option ${JSON.stringify(name)} is ignored`);
    }
  }
  return {
    policyMode,
    disableKprobeMulti,
    disableUprobeMulti,
    ...(overrideMethod === undefined ? {} : { overrideMethod }),
    ...(cpuBudget === undefined ? {} : { cpuBudget }),
    raw,
  };
}

function decodeEnforcers(r: Reader, items: Val[], lists: ListIndex): Enforcer[] {
  const extra = items[POLICY_LIMITS.enforcersPerPolicy];
  if (extra !== undefined) {
    r.error(
      extra,
      `at most ${POLICY_LIMITS.enforcersPerPolicy} enforcer per policy (Tetragon's limit); found ${items.length}`,
    );
  }
  const out: Enforcer[] = [];
  for (const item of items.slice(0, POLICY_LIMITS.enforcersPerPolicy)) {
    const f = r.map(item, { fields: ["calls"] });
    if (f === undefined) continue;
    if (f.get("calls") === undefined) r.missing(f, "calls");
    const calls = r.strings(f.get("calls"));
    const syscalls: SyscallRef[] = [];
    let ok = true;
    for (const c of calls) {
      if (c.value.startsWith("list:")) {
        const name = c.value.slice("list:".length);
        const list = lists.get(name);
        if (list === undefined) {
          r.error(
            c.at,
            `list '${c.value}' not found: spec.lists has no entry named ${JSON.stringify(name)}`,
          );
          ok = false;
        } else if (list === null) {
          ok = false;
        } else if (list.syscalls === undefined) {
          r.error(c.at, `list '${name}' is not a syscall list (type ${list.type})`);
          ok = false;
        } else {
          syscalls.push(...list.syscalls);
        }
        continue;
      }
      if (is32BitSyscall(c.value)) {
        r.unrunnable(c.at, syscall32NotRunnable(c.value));
        continue;
      }
      const res = resolveSyscall(c.value);
      if (res.syscall === undefined) {
        r.error(c.at, `enforcer calls are syscalls: ${res.error}`);
        ok = false;
      } else {
        syscalls.push(res.syscall);
      }
    }
    if (ok) out.push({ at: r.ref(item), calls: calls.map((c) => c.value), syscalls });
  }
  return out;
}

const LABEL_OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

function decodeLabelSelector(
  r: Reader,
  v: Val,
  what: "podSelector" | "containerSelector" | "hostSelector",
): LabelSelector | undefined {
  const f = r.map(v, { fields: ["matchLabels", "matchExpressions"] });
  if (f === undefined) return undefined;
  const errorsBefore = r.errors.length;
  const matchLabels = r.stringMap(f.get("matchLabels"));
  const matchExpressions: LabelExpression[] = [];
  for (const item of r.seq(f.get("matchExpressions"))) {
    const e = r.map(item, { fields: ["key", "operator", "values"] });
    if (e === undefined) continue;
    const key = r.requiredString(e, "key");
    const operator = r.requiredString(e, "operator");
    const values = r.strings(e.get("values")).map((s) => s.value);
    if (operator !== undefined && !LABEL_OPERATORS.has(operator)) {
      r.error(
        e.get("operator") ?? e.at,
        `label selector operator must be In, NotIn, Exists or DoesNotExist, got ${
          JSON.stringify(operator)
        }`,
      );
      continue;
    }
    if ((operator === "In" || operator === "NotIn") && values.length === 0) {
      r.error(
        e.get("values") ?? e.missing("values"),
        `operator ${operator} needs at least one value`,
      );
    }
    if ((operator === "Exists" || operator === "DoesNotExist") && values.length > 0) {
      r.error(e.get("values") ?? e.at, `operator ${operator} takes no values`);
    }
    if (what === "containerSelector" && key !== undefined && key !== "name") {
      r.error(
        e.get("key") ?? e.at,
        `containerSelector only supports the "name" field, got ${JSON.stringify(key)}`,
      );
    }
    if (key !== undefined && operator !== undefined) {
      matchExpressions.push({ key, operator: operator as LabelExpression["operator"], values });
    }
  }
  if (what === "containerSelector") {
    for (const key of Object.keys(matchLabels)) {
      if (key !== "name") {
        r.error(
          f.get("matchLabels") ?? f.at,
          `containerSelector only supports the "name" field, got ${JSON.stringify(key)}`,
        );
      }
    }
  }
  if (
    what === "hostSelector" && (Object.keys(matchLabels).length > 0 || matchExpressions.length > 0)
  ) {
    r.error(v, "The hostSelector should be either null or {}.");
  }
  if (r.errors.length > errorsBefore) return undefined;
  return { at: r.ref(v), matchLabels, matchExpressions };
}

/** Decodes `spec` of a policy of the given kind. */
export function decodeSpec(r: Reader, v: Val, kind: PolicyKind): PolicySpec | undefined {
  const f = r.map(v, SPEC_SHAPE);
  if (f === undefined) return undefined;
  const errorsBefore = r.errors.length;
  const { lists, index } = decodeLists(r, f.get("lists"));
  const options = decodeOptions(r, f.get("options"));
  const enforcerItems = r.seq(f.get("enforcers"));
  const enforcers = decodeEnforcers(r, enforcerItems, index);
  const env: HookEnv = {
    lists: index,
    hasEnforcers: enforcerItems.length > 0,
    followChildren: { count: 0 },
  };
  const kprobeItems = r.seq(f.get("kprobes"));
  const fentryItems = r.seq(f.get("fentries"));
  const tracepointItems = r.seq(f.get("tracepoints"));
  const lsmItems = r.seq(f.get("lsmhooks"));
  const uprobeItems = r.seq(f.get("uprobes"));
  const kprobes = kprobeItems.flatMap((item) => decodeKprobe(r, item, "kprobe", env) ?? []);
  const fentries = fentryItems.flatMap((item) => decodeKprobe(r, item, "fentry", env) ?? []);
  const tracepoints = tracepointItems.flatMap((item) => decodeTracepoint(r, item, env) ?? []);
  const lsmhooks = lsmItems.flatMap((item) => decodeLsmHook(r, item, env) ?? []);
  const uprobes = uprobeItems.flatMap((item) => decodeUprobe(r, item, env) ?? []);
  const usdtCount = decodeUsdts(r, f.get("usdts"));
  const loader = r.bool(f.get("loader")) ?? false;

  const podVal = f.get("podSelector");
  const podSelector = podVal?.node ? decodeLabelSelector(r, podVal, "podSelector") : undefined;
  const containerVal = f.get("containerSelector");
  const containerSelector = containerVal?.node
    ? decodeLabelSelector(r, containerVal, "containerSelector")
    : undefined;
  const hostVal = f.get("hostSelector");
  let hostSelector: LabelSelector | undefined;
  if (hostVal?.node) {
    if (kind === "TracingPolicyNamespaced") {
      r.error(
        f.key("hostSelector") ?? hostVal,
        "TracingPolicyNamespaced should have a null spec.hostSelector.",
      );
    } else {
      hostSelector = decodeLabelSelector(r, hostVal, "hostSelector");
    }
  }

  const hooks = kprobeItems.length + fentryItems.length + tracepointItems.length + lsmItems.length +
    uprobeItems.length + usdtCount;
  if (hooks === 0 && !loader && r.errors.length === errorsBefore) {
    r.warn(v, "the policy has no hooks (kprobes, tracepoints, lsmhooks, uprobes): it does nothing");
  }
  if (r.errors.length > errorsBefore) return undefined;
  return {
    kprobes,
    fentries,
    tracepoints,
    uprobes,
    lsmhooks,
    lists,
    enforcers,
    options,
    loader,
    ...(podSelector === undefined ? {} : { podSelector }),
    ...(containerSelector === undefined ? {} : { containerSelector }),
    ...(hostSelector === undefined ? {} : { hostSelector }),
    notRunnable: [...r.notRunnable],
  };
}
