/**
 * Export shapes of the file family of args read on kernel-function hooks (see
 * `bpf/lib/args_file.h`): `file_arg` (file, kiocb), `path_arg` (path, dentry) and
 * `linux_binprm_arg` as `{path, flags?, permission}`, Tetragon's fields. The record's `ints[i]`
 * holds `(flags << 32) | i_mode`; a path cut to fit keeps its leaf components and says
 * `"flags":"unresolvedPathComponents"`, as Tetragon does.
 *
 * @module
 */

import { ENUMS } from "../bpf/abi.gen.ts";
import { jsonString } from "../events/process_json.ts";

const FLAGS = ENUMS.vigil_path_flags;

/** `ls -l` type letters by the S_IFMT bits of a mode. */
const TYPE_LETTERS: Readonly<Record<number, string>> = {
  0o140000: "s",
  0o120000: "l",
  0o100000: "-",
  0o060000: "b",
  0o040000: "d",
  0o020000: "c",
  0o010000: "p",
};

/**
 * A mode as `ls -l` prints it: type letter, then rwx triplets with setuid/setgid/sticky.
 *
 * @example
 * ```ts
 * permissionString(0o100644); // "-rw-r--r--"
 * permissionString(0o104755); // "-rwsr-xr-x"
 * ```
 */
export function permissionString(mode: number): string {
  let s = TYPE_LETTERS[mode & 0o170000] ?? "?";
  const special = [0o4000, 0o2000, 0o1000];
  for (let who = 0; who < 3; who++) {
    const bits = (mode >> (6 - 3 * who)) & 7;
    s += bits & 4 ? "r" : "-";
    s += bits & 2 ? "w" : "-";
    const x = (bits & 1) !== 0;
    if ((mode & special[who]!) !== 0) s += who === 2 ? (x ? "t" : "T") : (x ? "s" : "S");
    else s += x ? "x" : "-";
  }
  return s;
}

const utf8 = new TextDecoder();

/** The body (`"file_arg":{…}`) of a path arg from its record value and bytes. */
export function pathArgJson(
  json: "file_arg" | "path_arg" | "linux_binprm_arg",
  v: bigint,
  data: Uint8Array,
): string {
  const flags = Number(BigInt.asUintN(32, v >> 32n));
  const mode = Number(v & 0xffffn);
  const nul = data.indexOf(0);
  const path = utf8.decode(nul < 0 ? data : data.subarray(0, nul));
  if ((flags & FLAGS.VIGIL_PATH_F_ERROR) !== 0 && path === "") return `"${json}":{}`;
  let s = `"${json}":{"path":${jsonString(path)}`;
  if ((flags & FLAGS.VIGIL_PATH_F_CUT) !== 0) s += `,"flags":"unresolvedPathComponents"`;
  if (mode !== 0) s += `,"permission":"${permissionString(mode)}"`;
  return s + "}";
}
