/**
 * Maps a hook arg (Tetragon type + where it is read) onto how the policy engine reads it: a
 * `vigil_arg_kind`, the record offset and size, and the JSON object it is exported as.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import type { TracepointField } from "./tracepoint_format.ts";
import type { ArgJson, ArgKind, PlannedArg } from "./types.ts";
import type { ArgType, HookArg } from "../spec/mod.ts";
import type { IssueSink } from "./issues.ts";
import { kernelArgRead } from "./args_kernel.ts";
import { ENUMS } from "../../bpf/abi.gen.ts";
import { fileFamilyRead, maxDataWarning } from "./args_file.ts";

/** An integer arg type: bytes read, sign, exported object. */
interface IntType {
  readonly size: 1 | 2 | 4 | 8;
  readonly signed: boolean;
  readonly json: ArgJson;
}

const INT_TYPES: Readonly<Partial<Record<ArgType, IntType>>> = {
  int: { size: 4, signed: true, json: "int_arg" },
  int8: { size: 1, signed: true, json: "int_arg" },
  int16: { size: 2, signed: true, json: "int_arg" },
  uint8: { size: 1, signed: false, json: "uint_arg" },
  uint16: { size: 2, signed: false, json: "uint_arg" },
  uint32: { size: 4, signed: false, json: "uint_arg" },
  int64: { size: 8, signed: true, json: "long_arg" },
  uint64: { size: 8, signed: false, json: "size_arg" },
  size_t: { size: 8, signed: false, json: "size_arg" },
};

/** The Tetragon type an integer of this width and sign is exported as. */
function intTypeName(size: number, signed: boolean): ArgType {
  if (size === 8) return signed ? "int64" : "uint64";
  if (size === 4) return signed ? "int" : "uint32";
  if (size === 2) return signed ? "int16" : "uint16";
  return signed ? "int8" : "uint8";
}

/** Exported object of a Tetragon type, for return values and auto-typed args. */
export function argJsonOf(type: ArgType): ArgJson {
  const int = INT_TYPES[type];
  if (int !== undefined) return int.json;
  switch (type) {
    case "string":
    case "filename":
    case "data_loc":
      return "string_arg";
    case "fd":
      return "file_arg";
    case "sockaddr":
      return "sockaddr_arg";
    case "char_buf":
      return "bytes_arg";
    case "syscall64":
      return "syscall_id";
    default:
      return kernelArgRead(type)?.json ?? "none";
  }
}

/** C integer types of tracepoint fields: bytes and sign. */
const C_INTEGERS: Readonly<Record<string, readonly [1 | 2 | 4 | 8, boolean]>> = {
  "char": [1, true],
  "signed char": [1, true],
  "unsigned char": [1, false],
  "bool": [1, false],
  "_Bool": [1, false],
  "short": [2, true],
  "short int": [2, true],
  "unsigned short": [2, false],
  "unsigned short int": [2, false],
  "int": [4, true],
  "signed int": [4, true],
  "signed": [4, true],
  "unsigned": [4, false],
  "unsigned int": [4, false],
  "long": [8, true],
  "long int": [8, true],
  "unsigned long": [8, false],
  "unsigned long int": [8, false],
  "long long": [8, true],
  "unsigned long long": [8, false],
  "s8": [1, true],
  "u8": [1, false],
  "s16": [2, true],
  "u16": [2, false],
  "s32": [4, true],
  "u32": [4, false],
  "s64": [8, true],
  "u64": [8, false],
  "__s8": [1, true],
  "__u8": [1, false],
  "__s16": [2, true],
  "__u16": [2, false],
  "__s32": [4, true],
  "__u32": [4, false],
  "__s64": [8, true],
  "__u64": [8, false],
  "pid_t": [4, true],
  "uid_t": [4, false],
  "gid_t": [4, false],
  "old_uid_t": [2, false],
  "old_gid_t": [2, false],
  "umode_t": [2, false],
  "mode_t": [4, false],
  "size_t": [8, false],
  "ssize_t": [8, true],
  "off_t": [8, true],
  "loff_t": [8, true],
  "key_t": [4, true],
  "key_serial_t": [4, true],
  "mqd_t": [4, true],
  "timer_t": [4, true],
  "clockid_t": [4, true],
  "qid_t": [4, false],
  "time_t": [8, true],
  "__kernel_old_time_t": [8, true],
  "rwf_t": [4, true],
  "aio_context_t": [8, false],
  "dev_t": [4, false],
  "gfp_t": [4, false],
};

/** A C type without qualifiers: `const char __user *` → `char *`. */
function bareType(ctype: string): string {
  return ctype
    .replace(/\b(const|volatile|__user|__rcu|__kernel|__force)\b/g, " ")
    .replace(/\s+/g, " ")
    .replace(/ \*/g, "*")
    .trim();
}

/** Whether a field is a pointer to characters (a string). */
function isCharPointer(field: TracepointField): boolean {
  const t = bareType(field.type);
  return t === "char*" || t === "unsigned char*" || t === "signed char*";
}

/** Where an arg is read from. */
export interface ArgSite {
  /** The format field; absent for function args (fentry/kprobe/lsm). */
  readonly field?: TracepointField;
  /** Describes the site for messages, e.g. `syscalls/sys_enter_openat field "flags"`. */
  readonly desc: string;
  /** Pointers in the record are user-space pointers (syscall args). */
  readonly userPointers: boolean;
  /** The mechanism's name for messages, e.g. `the syscall tracepoint`. */
  readonly mechanism: string;
  /** Function args: the index (ctx offset is 8 × index). */
  readonly functionIndex?: number;
  /** The args are read when the function returns, with its return value (fexit). */
  readonly atReturn?: boolean;
}

/** The hook an arg belongs to (for `sizeArgIndex`). */
export interface ArgContext {
  readonly args: readonly HookArg[];
  readonly sink: IssueSink;
}

const KERNEL_OBJECT_TYPES = new Set<ArgType>([
  "file",
  "path",
  "dentry",
  "linux_binprm",
  "kiocb",
  "iov_iter",
  "skb",
  "sock",
  "socket",
  "net_device",
  "cred",
  "user_namespace",
  "kernel_cap_t",
  "cap_inheritable",
  "cap_permitted",
  "cap_effective",
  "bpf_attr",
  "bpf_map",
  "bpf_prog",
  "perf_event",
  "load_info",
  "module",
]);

/** What each argument kind Tetragon reads through BTF is (for "cannot read yet" reasons). */
const KERNEL_READS: Readonly<Partial<Record<ArgType, string>>> = {
  file: "the path of a struct file",
  path: "the path of a struct path",
  dentry: "the name of a struct dentry",
  fd: "the path behind a file descriptor",
  filename: "a struct filename",
  linux_binprm: "the file of a struct linux_binprm",
  kiocb: "the file of a struct kiocb",
  iov_iter: "the buffers of a struct iov_iter",
  skb: "the addresses and ports of a struct sk_buff",
  sock: "the addresses, ports and state of a struct sock",
  socket: "the struct sock of a struct socket",
  sockaddr: "a struct sockaddr",
  net_device: "the name of a struct net_device",
  cred: "the ids and capabilities of a struct cred",
  user_namespace: "the ids of a struct user_namespace",
  capability: "a capability number",
  kernel_cap_t: "a kernel_cap_t capability set",
  cap_inheritable: "an inheritable capability set",
  cap_permitted: "a permitted capability set",
  cap_effective: "an effective capability set",
  bpf_attr: "the program type and name of a union bpf_attr",
  bpf_map: "the map type, sizes and name of a struct bpf_map",
  bpf_prog: "the type and name of a struct bpf_prog",
  perf_event: "the kprobe function and type of a struct perf_event",
  module: "the name and signature state of a struct module",
  load_info: "the name and signature state of a struct load_info",
  char_iovec: "the buffers of an iovec array",
  const_buf: "a constant-size buffer",
  dns: "a DNS message in a struct msghdr",
};

function unsupportedType(type: ArgType, site: ArgSite): string {
  if (site.field === undefined && !site.userPointers) {
    // A kernel function's argument: the mechanism receives it, the engine cannot decode it yet.
    const what = KERNEL_READS[type];
    return `type ${type} is valid Tetragon, but vigil's engine cannot read ${
      what ?? `a ${type} argument`
    } in the kernel yet (${site.desc}): not runnable`;
  }
  if (KERNEL_OBJECT_TYPES.has(type)) {
    return `type ${type} reads a kernel object (struct ${
      type === "linux_binprm" ? "linux_binprm" : type
    }), which only kprobe, fentry and LSM hooks receive; ${site.mechanism} only has ${
      site.userPointers ? "the syscall's raw arguments" : "the fields of its record"
    } (${site.desc})`;
  }
  return `type ${type} is not supported by vigil's policy engine on ${site.mechanism} (${site.desc})`;
}

/** How one arg is read, before its record offset is placed. */
export interface Read {
  readonly kind: ArgKind;
  readonly size: number;
  readonly type: ArgType;
  readonly json: ArgJson;
  readonly sizeArg?: number;
}

/** Integer read of a scalar field: at most the field's size. */
function integerRead(
  field: TracepointField,
  want: IntType,
  type: ArgType,
): Read | string {
  if (field.arrayLength !== undefined || field.dataLoc) {
    return `field "${field.name}" is ${
      field.dataLoc ? "a __data_loc string" : "an array"
    }, not an integer`;
  }
  if (![1, 2, 4, 8].includes(field.size)) {
    return `field "${field.name}" has ${field.size} bytes, not 1, 2, 4 or 8`;
  }
  const size = Math.min(want.size, field.size);
  return {
    kind: want.signed ? "VIGIL_ARG_INT" : "VIGIL_ARG_UINT",
    size,
    type: size === want.size ? type : intTypeName(size, want.signed),
    json: size === want.size ? want.json : argJsonOf(intTypeName(size, want.signed)),
  };
}

/** The integer shape of a field from its C type (falling back on its size and sign flag). */
function fieldInteger(field: TracepointField, userPointers: boolean): IntType | undefined {
  const known = C_INTEGERS[bareType(field.type)];
  if (known !== undefined) {
    const size = Math.min(known[0], field.size) as 1 | 2 | 4 | 8;
    return { size, signed: known[1], json: argJsonOf(intTypeName(size, known[1])) };
  }
  if (![1, 2, 4, 8].includes(field.size)) return undefined;
  const size = field.size as 1 | 2 | 4 | 8;
  // Syscall args are stored as unsigned long: their signed flag says nothing about the C type.
  const signed = userPointers ? false : field.signed;
  return { size, signed, json: argJsonOf(intTypeName(size, signed)) };
}

function autoRead(field: TracepointField, site: ArgSite): Read | string {
  if (field.dataLoc) {
    return { kind: "VIGIL_ARG_DATA_LOC", size: 4, type: "data_loc", json: "string_arg" };
  }
  if (field.arrayLength !== undefined || field.type.endsWith("[]")) {
    return `type auto cannot read field "${field.name}" (${field.type}[${
      field.arrayLength ?? ""
    }]): array fields are not supported`;
  }
  if (field.pointer) {
    if (isCharPointer(field) && site.userPointers) {
      return { kind: "VIGIL_ARG_STRING", size: 8, type: "string", json: "string_arg" };
    }
    // Any other pointer: its value, an address.
    return { kind: "VIGIL_ARG_UINT", size: 8, type: "uint64", json: "size_arg" };
  }
  const int = fieldInteger(field, site.userPointers);
  if (int === undefined) return `type auto cannot read field "${field.name}" (${field.type})`;
  return integerRead(field, int, intTypeName(int.size, int.signed));
}

function pointerCheck(field: TracepointField, type: ArgType, site: ArgSite): string | undefined {
  if (!field.pointer) {
    return `type ${type} needs a pointer, but field "${field.name}" is ${field.type}`;
  }
  if (!site.userPointers) {
    return `type ${type} reads user memory, but field "${field.name}" of ${site.desc} is a kernel ` +
      `pointer (only syscall tracepoints carry user pointers)`;
  }
  return undefined;
}

function fieldRead(
  arg: HookArg,
  field: TracepointField,
  site: ArgSite,
  ctx: ArgContext,
): Read | string {
  const type = arg.type;
  const int = INT_TYPES[type];
  if (int !== undefined) return integerRead(field, int, type);
  switch (type) {
    case "auto":
      return autoRead(field, site);
    case "nop":
      return { kind: "VIGIL_ARG_NONE", size: 0, type, json: "none" };
    case "fd": {
      const r = integerRead(field, { size: 4, signed: true, json: "file_arg" }, type);
      return typeof r === "string" ? r : { ...r, kind: "VIGIL_ARG_FD", type, json: "file_arg" };
    }
    case "syscall64": {
      const r = integerRead(field, { size: 8, signed: true, json: "syscall_id" }, type);
      return typeof r === "string"
        ? r
        : { ...r, kind: "VIGIL_ARG_SYSCALL_ID", type, json: "syscall_id" };
    }
    case "data_loc":
      return field.dataLoc
        ? { kind: "VIGIL_ARG_DATA_LOC", size: 4, type, json: "string_arg" }
        : `type data_loc needs a __data_loc field; field "${field.name}" is ${field.type}`;
    case "string":
    case "filename": {
      if (field.dataLoc) {
        return { kind: "VIGIL_ARG_DATA_LOC", size: 4, type: "data_loc", json: "string_arg" };
      }
      const bad = pointerCheck(field, type, site);
      if (bad !== undefined) return bad;
      return { kind: "VIGIL_ARG_STRING", size: 8, type, json: "string_arg" };
    }
    case "sockaddr": {
      const bad = pointerCheck(field, type, site);
      if (bad !== undefined) return bad;
      return { kind: "VIGIL_ARG_SOCKADDR", size: 8, type, json: "sockaddr_arg" };
    }
    case "char_buf": {
      const bad = pointerCheck(field, type, site);
      if (bad !== undefined) return bad;
      const sizeArg = sizeArgPosition(arg, ctx);
      if (typeof sizeArg === "string") return sizeArg;
      return { kind: "VIGIL_ARG_BUF", size: 8, type, json: "bytes_arg", sizeArg };
    }
  }
  return unsupportedType(type, site);
}

/** `sizeArgIndex` (1-based function arg index) → position of that arg in the hook, plus one. */
export function sizeArgPosition(arg: HookArg, ctx: ArgContext): number | string {
  if (arg.sizeArgIndex === undefined) {
    return "char_buf needs sizeArgIndex (the 1-based index of the arg holding the buffer's size)";
  }
  const wanted = arg.sizeArgIndex - 1;
  const pos = ctx.args.findIndex((a) => a.index === wanted);
  if (pos < 0) {
    return `sizeArgIndex ${arg.sizeArgIndex} refers to arg index ${wanted}, which is not in the ` +
      `hook's args: add it (e.g. type: size_t) so the kernel can read the size`;
  }
  const sizeType = ctx.args[pos]?.type ?? "auto";
  if (INT_TYPES[sizeType] === undefined && sizeType !== "auto") {
    // Tetragon takes the raw value of whatever arg the index names (public policies do point
    // sizeArgIndex at the buffer itself): do the same, so they run unchanged, and say so.
    ctx.sink.warn(
      arg.at,
      `sizeArgIndex ${arg.sizeArgIndex} refers to an arg of type ${sizeType}, not an integer: ` +
        `its raw value is taken as the size, as Tetragon does, so the capture is usually the ` +
        `whole ${ENUMS.vigil_policy_limits.VIGIL_STR_MAX - 1}-byte maximum`,
    );
  }
  return pos + 1;
}

function functionRead(arg: HookArg, site: ArgSite, ctx: ArgContext): Read | string {
  const type = arg.type;
  const kernel = site.userPointers ? undefined : kernelArgRead(type);
  if (kernel !== undefined) return { ...kernel, type };
  const int = INT_TYPES[type];
  if (int !== undefined) {
    return {
      kind: int.signed ? "VIGIL_ARG_INT" : "VIGIL_ARG_UINT",
      size: int.size,
      type,
      json: int.json,
    };
  }
  switch (type) {
    case "nop":
      return { kind: "VIGIL_ARG_NONE", size: 0, type, json: "none" };
    case "fd":
      return { kind: "VIGIL_ARG_FD", size: 4, type, json: "file_arg" };
    case "string":
    case "filename":
      return site.userPointers
        ? { kind: "VIGIL_ARG_STRING", size: 8, type, json: "string_arg" }
        : unsupportedType(type, site);
    case "sockaddr":
      return site.userPointers
        ? { kind: "VIGIL_ARG_SOCKADDR", size: 8, type, json: "sockaddr_arg" }
        : unsupportedType(type, site);
    case "char_buf": {
      if (!site.userPointers) return unsupportedType(type, site);
      const sizeArg = sizeArgPosition(arg, ctx);
      if (typeof sizeArg === "string") return sizeArg;
      return { kind: "VIGIL_ARG_BUF", size: 8, type, json: "bytes_arg", sizeArg };
    }
  }
  return unsupportedType(type, site);
}

/** Attributes of an arg that need BTF or more than the engine reads. */
function checkExtras(arg: HookArg, site: ArgSite, sink: IssueSink): boolean {
  const problems: [boolean, string][] = [
    [
      arg.resolve !== undefined,
      `resolve (${arg.resolve}) walks kernel structures through BTF, which ${site.mechanism} does ` +
      `not support in vigil's engine`,
    ],
    [
      arg.btfType !== undefined,
      `btfType casts through BTF, which ${site.mechanism} does not support in vigil's engine`,
    ],
  ];
  const maxData = maxDataWarning(arg);
  if (maxData !== undefined) sink.warn(arg.at, maxData);
  let ok = true;
  for (const [bad, message] of problems) {
    if (bad) {
      sink.error(arg.at, message);
      ok = false;
    }
  }
  return ok;
}

/**
 * Plans one arg read at `site`. Errors go to `ctx.sink`; the returned arg is then a placeholder of
 * kind `VIGIL_ARG_NONE` (so positions stay aligned for the selectors' messages).
 */
export function planArg(
  arg: HookArg,
  role: PlannedArg["role"],
  site: ArgSite,
  ctx: ArgContext,
): PlannedArg {
  const extrasOk = checkExtras(arg, site, ctx.sink);
  const read = fileFamilyRead(arg, site, ctx) ??
    (site.field !== undefined
      ? fieldRead(arg, site.field, site, ctx)
      : functionRead(arg, site, ctx));
  const base = {
    at: arg.at,
    role,
    ...(arg.label === undefined ? {} : { label: arg.label }),
    ...(site.field === undefined ? {} : { field: site.field.name }),
  };
  if (typeof read === "string" || !extrasOk) {
    if (typeof read === "string") ctx.sink.error(arg.at, read);
    return { ...placeholderArg(arg, role), ...base };
  }
  const ctxOffset = site.field?.offset ?? 8 * (site.functionIndex ?? 0);
  return {
    ...base,
    type: read.type,
    kind: read.kind,
    ctxOffset,
    size: read.size,
    sizeArg: read.sizeArg ?? 0,
    json: read.json,
  };
}

/** The stand-in for an arg that cannot be read (its error is reported): kind NONE, not exported. */
export function placeholderArg(arg: HookArg, role: PlannedArg["role"]): PlannedArg {
  return {
    at: arg.at,
    role,
    ...(arg.label === undefined ? {} : { label: arg.label }),
    type: arg.type,
    kind: "VIGIL_ARG_NONE",
    ctxOffset: 0,
    size: 0,
    sizeArg: 0,
    json: "none",
  };
}
