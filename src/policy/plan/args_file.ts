/**
 * The file family of arg reads on kernel-function hooks (kprobe, fentry, LSM): `file`, `kiocb`,
 * `path`, `dentry`, `linux_binprm` (each as the full path, `bpf/lib/args_file.h`), `filename`
 * (a kernel `struct filename`), `string` and `char_buf` in kernel memory, `char_iovec`,
 * `iov_iter` (the bytes of its current segment), and the
 * `returnCopy`/`maxData` attributes of buffers.
 *
 * Internal to this stage: `args.ts` asks here first and falls back on its own reads.
 *
 * @module
 */

import type { ArgJson, ArgKind, PlannedArg, PlannedArgFilter } from "./types.ts";
import type { ArgFilter, HookArg } from "../spec/mod.ts";
import type { IssueSink } from "./issues.ts";
import type { ArgContext, ArgSite, Read } from "./args.ts";
import { sizeArgPosition } from "./args.ts";
import { ENUMS } from "../../bpf/abi.gen.ts";

const BUF = ENUMS.vigil_buf_limits;
const SLOT_BYTES = ENUMS.vigil_policy_limits.VIGIL_STR_MAX - 1;
const MAX_VALUES = ENUMS.vigil_policy_limits.VIGIL_MAX_VALUES;

/** Kernel objects read as a path: the kind and the Tetragon object they are exported as. */
const PATH_READS: Readonly<Partial<Record<HookArg["type"], readonly [ArgKind, ArgJson]>>> = {
  file: ["VIGIL_ARG_FILE", "file_arg"],
  kiocb: ["VIGIL_ARG_KIOCB", "file_arg"],
  path: ["VIGIL_ARG_PATH", "path_arg"],
  dentry: ["VIGIL_ARG_DENTRY", "path_arg"],
  linux_binprm: ["VIGIL_ARG_LINUX_BINPRM", "linux_binprm_arg"],
};

/** Kinds whose `ints[i]` is `(flags << 32) | i_mode` (FileType filters, permission strings). */
export const PATH_KINDS: ReadonlySet<ArgKind> = new Set(
  Object.values(PATH_READS).map((r) => r![0]),
);

/** Kinds the kernel matches as strings (their path, name or bytes). */
export const FILE_STRING_KINDS: readonly ArgKind[] = [
  ...PATH_KINDS,
  "VIGIL_ARG_FILENAME",
  "VIGIL_ARG_ANY_STRING",
  "VIGIL_ARG_ANY_BUF",
  "VIGIL_ARG_IOVEC",
  "VIGIL_ARG_IOV_ITER",
];

/** `sizeArg` of a buffer sized by the return value (`returnCopy`). */
export const SIZE_FROM_RETURN = BUF.VIGIL_SIZE_FROM_RET;

/** Where a buffer's size comes from: `sizeArgIndex`, or the return value with `returnCopy`. */
function bufferSize(arg: HookArg, site: ArgSite, ctx: ArgContext): number | string {
  if (!arg.returnCopy) return sizeArgPosition(arg, ctx);
  if (site.atReturn !== true) {
    return `returnCopy reads ${arg.type} when the function returns, sized by its return value: ` +
      `it needs return: true on a hook whose args and return value arrive together (fexit); ` +
      `${site.desc} is read at entry`;
  }
  return SIZE_FROM_RETURN;
}

/**
 * The read of a file-family arg at `site`; a string says why it cannot be read; `undefined`: not
 * this family (the caller decides).
 */
export function fileFamilyRead(
  arg: HookArg,
  site: ArgSite,
  ctx: ArgContext,
): Read | string | undefined {
  const type = arg.type;
  const kernel = site.field === undefined && !site.userPointers;
  const path = PATH_READS[type];
  if (path !== undefined) {
    return kernel ? { kind: path[0], size: 8, type, json: path[1] } : undefined;
  }
  switch (type) {
    case "filename":
      return kernel ? { kind: "VIGIL_ARG_FILENAME", size: 8, type, json: "string_arg" } : undefined;
    case "string":
      return kernel
        ? { kind: "VIGIL_ARG_ANY_STRING", size: 8, type, json: "string_arg" }
        : undefined;
    case "char_buf": {
      if (!kernel && !arg.returnCopy) return undefined;
      const sizeArg = bufferSize(arg, site, ctx);
      if (typeof sizeArg === "string") return sizeArg;
      // User pointers stay user reads; a kernel function's buffer may be either memory.
      const kind = site.userPointers ? "VIGIL_ARG_BUF" : "VIGIL_ARG_ANY_BUF";
      return { kind, size: 8, type, json: "bytes_arg", sizeArg };
    }
    case "iov_iter":
      return kernel ? { kind: "VIGIL_ARG_IOV_ITER", size: 8, type, json: "bytes_arg" } : undefined;
    case "char_iovec": {
      if (!kernel && !site.userPointers) {
        return `type char_iovec reads user memory, but ${site.desc} is a kernel pointer`;
      }
      if (arg.returnCopy) {
        return "returnCopy on char_iovec is not supported by vigil's engine (it reads the iovecs " +
          "at entry)";
      }
      const sizeArg = sizeArgPosition(arg, ctx);
      if (typeof sizeArg === "string") return sizeArg.replace("char_buf", "char_iovec");
      return { kind: "VIGIL_ARG_IOVEC", size: 8, type, json: "bytes_arg", sizeArg };
    }
  }
  return undefined;
}

/**
 * What `maxData` means here: Tetragon raises a buffer's capture to 327360 bytes; vigil captures
 * at most one slot, so the event says `truncated_bytes_arg` with the original size.
 */
export function maxDataWarning(arg: HookArg): string | undefined {
  if (!arg.maxData) return undefined;
  return `maxData: vigil captures at most ${SLOT_BYTES} bytes of ${arg.type} (Tetragon up to ` +
    `327360); longer buffers are exported as truncated_bytes_arg with their orig_size`;
}

/**
 * A FileType/NotFileType entry on a path arg: the `S_IF*` values the mode's type bits are
 * compared with. `undefined`: not a FileType entry; `"none"`: reported to `sink`.
 */
export function fileTypeFilter(
  f: ArgFilter,
  pos: number,
  arg: PlannedArg,
  sink: IssueSink,
): PlannedArgFilter | "none" | undefined {
  if (f.operator !== "FileType" && f.operator !== "NotFileType") return undefined;
  if (!PATH_KINDS.has(arg.kind)) {
    sink.error(
      f.at,
      `${f.operator} needs a file, path, dentry, kiocb or linux_binprm arg (the ` +
        `kernel compares its inode's mode); args[${pos}] is ${arg.type}`,
    );
    return "none";
  }
  const m = f.match;
  if (m.kind !== "fileTypes") return "none";
  if (m.modes.length > MAX_VALUES) {
    sink.error(f.at, `at most ${MAX_VALUES} values per ${f.operator} entry`);
    return "none";
  }
  return {
    at: f.at,
    arg: pos,
    op: f.operator === "FileType" ? "VIGIL_MATCH_FILE_TYPE" : "VIGIL_MATCH_NOT_FILE_TYPE",
    values: m.modes.map(BigInt),
    nvalues: m.modes.length,
  };
}
