/**
 * Policy events: Tetragon-shaped export lines of the policy records (decoded in
 * `src/events/decode.ts`): `process_kprobe` (syscall and function hooks),
 * `process_tracepoint` and `process_lsm`, with typed `args`, `return`, `action`, `policy_name`,
 * `message` and `tags`. Runs once per event, so every per-hook constant (names, labels, message,
 * tags) is serialized once in {@link hookEventInfo}, and a line is a handful of concatenations.
 *
 * The record, as the kernel writes it (see `bpf/include/abi.h`): `ints[i]` holds arg `i`'s value
 * (INT sign-extended, UINT zero-extended, SYSCALL_ID the id, FD the descriptor; pointers for the
 * others); the tail holds, in arg order, `data_len[i]` bytes for each arg with variable data
 * (STRING/DATA_LOC: the string, a trailing NUL optional; FD: the file's path; SOCKADDR: the raw
 * `struct sockaddr`; BUF: the bytes); `ret` is the return value of exit hooks.
 *
 * @module
 */

import { ENUMS } from "../bpf/abi.gen.ts";
import { jsonString } from "../events/process_json.ts";
import type { PolicyRecord } from "../events/records.ts";
import type { ArgJson, PlannedHook } from "./plan/mod.ts";
import { kernelArgJson } from "./args_kernel_json.ts";
import { pathArgJson } from "./event_json_file.ts";

const EMPTY = new Uint8Array(0);
const SIZE_FROM_RET = ENUMS.vigil_buf_limits.VIGIL_SIZE_FROM_RET;

/** How one value is exported. */
interface ArgOut {
  /** Position in the record (`ints`/`data`). */
  readonly pos: number;
  readonly json: ArgJson;
  /** `,"label":"…"` or "". */
  readonly label: string;
  /** BUF: position of the size arg, plus one (0: none; VIGIL_SIZE_FROM_RET: the return value). */
  readonly sizeArg: number;
  /** The value is a path kind's `(flags << 32) | i_mode` (see `event_json_file.ts`). */
  readonly pathMode?: boolean;
  /** The value is the buffer's original size (iov_iter: the iterator's count). */
  readonly origIsValue?: boolean;
}

/** Per-hook constants of its event lines; build once per hook with {@link hookEventInfo}. */
export interface HookEventInfo {
  readonly kind: PlannedHook["event"]["kind"];
  /** `"function_name":"…"` or `"subsys":"…","event":"…"`. */
  readonly where: string;
  readonly args: readonly ArgOut[];
  readonly ret?: ArgOut;
  /** `"policy_name":"…"`. */
  readonly policy: string;
  /** `,"message":"…","tags":[…]`, the empty ones left out. */
  readonly trailer: string;
}

/**
 * The event constants of a planned hook: exported args (in hook order; `nop` args and the return
 * slot left out), the return object, names, message and tags, serialized.
 */
export function hookEventInfo(hook: Pick<PlannedHook, "args" | "event">): HookEventInfo {
  const ev = hook.event;
  const label = (l: string | undefined) => (l === undefined ? "" : `,"label":${jsonString(l)}`);
  const args: ArgOut[] = [];
  hook.args.forEach((a, pos) => {
    if (a.role === "arg" && a.json !== "none") {
      const pathMode = a.kind !== "VIGIL_ARG_FD" && a.kind !== "VIGIL_ARG_NONE" &&
        (a.json === "file_arg" || a.json === "path_arg" || a.json === "linux_binprm_arg");
      const origIsValue = a.kind === "VIGIL_ARG_IOV_ITER";
      args.push({
        pos,
        json: a.json,
        label: label(a.label),
        sizeArg: a.sizeArg,
        pathMode,
        origIsValue,
      });
    }
  });
  const where = ev.kind === "process_tracepoint"
    ? `"subsys":${jsonString(ev.subsys ?? "")},"event":${jsonString(ev.event ?? "")}`
    : `"function_name":${jsonString(ev.functionName ?? "")}`;
  let trailer = "";
  if (ev.message !== undefined && ev.message !== "") {
    trailer += `,"message":${jsonString(ev.message)}`;
  }
  if (ev.tags.length > 0) trailer += `,"tags":[${ev.tags.map(jsonString).join(",")}]`;
  return {
    kind: ev.kind,
    where,
    args,
    ...(ev.returnArg === undefined || ev.returnArg.json === "none" ? {} : {
      ret: {
        // Where the kernel read the return value's object (a returned sock), if it did.
        pos: hook.args.findIndex((a) => a.role === "return"),
        json: ev.returnArg.json,
        label: label(ev.returnArg.label),
        sizeArg: 0,
      },
    }),
    policy: `"policy_name":${jsonString(ev.policyName)}`,
    trailer,
  };
}

const utf8 = new TextDecoder();

/** Text of a C string: up to the first NUL. */
function cText(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return utf8.decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

function base64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

const FAMILY_NAMES: Readonly<Record<number, string>> = {
  0: "AF_UNSPEC",
  1: "AF_UNIX",
  2: "AF_INET",
  10: "AF_INET6",
  16: "AF_NETLINK",
  17: "AF_PACKET",
  40: "AF_VSOCK",
};

function ipv6Text(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** `sockaddr_arg` object from a raw `struct sockaddr`. */
function sockaddrJson(b: Uint8Array): string {
  if (b.length < 2) return "{}";
  const family = (b[0] ?? 0) | ((b[1] ?? 0) << 8);
  let s = `{"family":"${FAMILY_NAMES[family] ?? String(family)}"`;
  const port = ((b[2] ?? 0) << 8) | (b[3] ?? 0);
  if (family === 2 && b.length >= 8) {
    s += `,"addr":"${b[4]}.${b[5]}.${b[6]}.${b[7]}"`;
    if (port !== 0) s += `,"port":${port}`;
  } else if (family === 10 && b.length >= 24) {
    s += `,"addr":"${ipv6Text(b.subarray(8, 24))}"`;
    if (port !== 0) s += `,"port":${port}`;
  }
  return s + "}";
}

/** One argument object's body (`"int_arg":5`), without braces and label. */
function valueJson(json: ArgJson, v: bigint, data: Uint8Array, orig?: bigint): string {
  switch (json) {
    case "int_arg":
      return `"int_arg":${Number(BigInt.asIntN(32, v))}`;
    case "uint_arg":
      return `"uint_arg":${Number(BigInt.asUintN(32, v))}`;
    case "long_arg":
      return `"long_arg":"${BigInt.asIntN(64, v)}"`;
    case "size_arg":
      return `"size_arg":"${BigInt.asUintN(64, v)}"`;
    case "string_arg":
      return `"string_arg":${jsonString(cText(data))}`;
    case "path_arg":
    case "linux_binprm_arg":
      return pathArgJson(json, v, data);
    case "file_arg": {
      const path = cText(data);
      return path === "" ? `"file_arg":{}` : `"file_arg":{"path":${jsonString(path)}}`;
    }
    case "sockaddr_arg":
      return `"sockaddr_arg":${sockaddrJson(data)}`;
    case "bytes_arg":
      return orig !== undefined && orig > BigInt(data.length)
        ? `"truncated_bytes_arg":{"bytes_arg":"${base64(data)}","orig_size":"${orig}"}`
        : `"bytes_arg":"${base64(data)}"`;
    case "syscall_id": {
      const id = Number(BigInt.asUintN(32, v));
      return id === 0 ? `"syscall_id":{"abi":"x64"}` : `"syscall_id":{"id":${id},"abi":"x64"}`;
    }
    case "none":
      return "";
    default:
      return kernelArgJson(json, v, data);
  }
}

const ACTION_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(ENUMS.vigil_action_kind).map(([name, value]) => [
    value,
    `"${name.replace(/^VIGIL_ACT_/, "KPROBE_ACTION_")}"`,
  ]),
);

function argsJson(rec: PolicyRecord, info: HookEventInfo): string {
  let s = "";
  for (const a of info.args) {
    const v = rec.ints[a.pos];
    if (v === undefined) continue;
    const orig = a.origIsValue === true
      ? v
      : a.sizeArg === SIZE_FROM_RET
      ? rec.ret
      : a.sizeArg > 0
      ? rec.ints[a.sizeArg - 1]
      : undefined;
    const data = rec.data[a.pos] ?? EMPTY;
    const body = a.pathMode === true && a.json !== "bytes_arg"
      ? pathArgJson(a.json as "file_arg", v, data)
      : valueJson(a.json, v, data, orig);
    s += `${s === "" ? "" : ","}{${body}${a.label}}`;
  }
  return s === "" ? "" : `,"args":[${s}]`;
}

/**
 * One export line (no trailing newline) for a policy event: `process_kprobe`,
 * `process_tracepoint` or `process_lsm`, with `process`/`parent` spliced in as given (serialized
 * `process` objects; undefined leaves them out), then `node_name` and `time` (RFC3339).
 *
 * @example
 * ```ts
 * const info = hookEventInfo(plan.hooks[0]!); // once per hook
 * policyEventLine(rec, info, processJson, parentJson, "node-1", "2026-01-01T00:00:00.000000000Z");
 * // {"process_kprobe":{"process":{…},"parent":{…},"function_name":"__x64_sys_unlinkat",
 * //  "args":[{"int_arg":-100,"label":"dirfd"},{"string_arg":"/tmp/x","label":"pathname"},
 * //  {"int_arg":0,"label":"flags"}],"action":"KPROBE_ACTION_POST","policy_name":"file-deletion",
 * //  "message":"file or directory deleted","tags":["observability.filesystem"]},
 * //  "node_name":"node-1","time":"2026-01-01T00:00:00.000000000Z"}
 * ```
 */
export function policyEventLine(
  record: PolicyRecord,
  info: HookEventInfo,
  process: string | undefined,
  parent: string | undefined,
  nodeName: string,
  time: string,
): string {
  let s = `{"${info.kind}":{`;
  if (process !== undefined) s += `"process":${process},`;
  if (parent !== undefined) s += `"parent":${parent},`;
  s += info.where + argsJson(record, info);
  const action = ACTION_NAMES.get(record.action);
  // policy-mode: monitor: the enforcing action is named, and flagged as not taken.
  const skipped = (record.flags & ENUMS.vigil_event_flags.VIGIL_EV_MONITOR) !== 0;
  const actionJson = action === undefined
    ? ""
    : `,"action":${action}${skipped ? `,"policy_mode":"monitor"` : ""}`;
  if (info.kind === "process_tracepoint") {
    s += `,${info.policy}${actionJson}`;
  } else {
    if (info.ret !== undefined) {
      s += `,"return":{${
        valueJson(
          info.ret.json,
          BigInt.asUintN(64, record.ret),
          record.data[info.ret.pos] ?? EMPTY,
        )
      }${info.ret.label}}`;
    }
    s += `${actionJson},${info.policy}`;
  }
  return `${s}${info.trailer}},"node_name":${jsonString(nodeName)},"time":"${time}"}`;
}
