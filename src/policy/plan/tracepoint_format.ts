/**
 * Classic tracepoint record layouts, read from tracefs
 * (`<tracefs>/events/<subsystem>/<event>/format`). The policy planner maps tracepoint and syscall
 * args onto these fields: their offset and size in the record the BPF program receives, and the
 * C type that decides how a value is read.
 *
 * A format file looks like this (fields 0–3 are the `common_*` header every event has):
 *
 * ```text
 * name: sys_enter_unlinkat
 * ID: 884
 * format:
 * 	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
 * 	...
 * 	field:int __syscall_nr;	offset:8;	size:4;	signed:1;
 * 	field:int dfd;	offset:16;	size:8;	signed:0;
 * 	field:const char * pathname;	offset:24;	size:8;	signed:0;
 * ```
 *
 * @module
 */

/** One `field:` line of a format file. */
export interface TracepointField {
  /** Field name without an array suffix (`args` for `unsigned long args[6]`). */
  readonly name: string;
  /** C type as written, e.g. `const char *`, `__data_loc char[]`, `unsigned long`. */
  readonly type: string;
  /** Byte offset in the record. */
  readonly offset: number;
  /** Byte size in the record. */
  readonly size: number;
  /** The format's `signed:` flag (always 0 for syscall args, which the kernel stores as `unsigned long`). */
  readonly signed: boolean;
  /** `__data_loc` field: a u32 holding `(length << 16) | offset` of data later in the record. */
  readonly dataLoc: boolean;
  /** Element count of an array field (`args[6]` → 6); absent for scalars. */
  readonly arrayLength?: number;
  /** Whether the C type is a pointer. */
  readonly pointer: boolean;
}

/** A parsed format file. */
export interface TracepointFormat {
  readonly subsystem: string;
  readonly event: string;
  /** The tracepoint id (`ID:` line); -1 when the file has none. */
  readonly id: number;
  /**
   * Every field in file order, `common_*` included, so that position `i` is Tetragon's tracepoint
   * `args[].index` `i` (`raw_syscalls/sys_enter`: 4 is `id`).
   */
  readonly fields: readonly TracepointField[];
}

/** The answer of a {@link TracepointFormatLookup}: a format, or why there is none. */
export type FormatLookupResult =
  | { readonly format: TracepointFormat; readonly error?: undefined }
  | { readonly format?: undefined; readonly error: string };

/** Finds the format of `subsystem/event` (on the running kernel, or in captured files). */
export type TracepointFormatLookup = (subsystem: string, event: string) => FormatLookupResult;

/** Thrown by {@link parseTracepointFormat} for text that is not a format file. */
export class TracepointFormatError extends Error {
  override name = "TracepointFormatError";
}

const FIELD_LINE = /^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;
const NAME_WITH_ARRAY = /^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d*)\])?$/;

function parseDeclaration(decl: string, line: number): { type: string; name: string; n?: number } {
  const text = decl.trim();
  const cut = Math.max(text.lastIndexOf(" "), text.lastIndexOf("*"));
  const type = text.slice(0, cut + 1).trim();
  const last = text.slice(cut + 1);
  const m = NAME_WITH_ARRAY.exec(last);
  if (cut < 0 || type === "" || m === null) {
    throw new TracepointFormatError(`line ${line}: cannot read field declaration "${text}"`);
  }
  const name = m[1] ?? "";
  const count = m[2];
  return count === undefined || count === ""
    ? { type: count === "" ? `${type}[]` : type, name }
    : { type, name, n: Number(count) };
}

/**
 * Parses the text of a tracefs `format` file. `subsystem`/`event` label the result (the file's
 * `name:` line only has the event). Throws {@link TracepointFormatError} when a `field:` line is
 * malformed or there is none.
 *
 * @example
 * ```ts
 * const f = parseTracepointFormat(text, "syscalls", "sys_enter_unlinkat");
 * f.fields[6]; // { name: "pathname", type: "const char *", offset: 24, size: 8, pointer: true, ... }
 * ```
 */
export function parseTracepointFormat(
  text: string,
  subsystem: string,
  event: string,
): TracepointFormat {
  const fields: TracepointField[] = [];
  let id = -1;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const idMatch = /^ID:\s*(\d+)/.exec(line);
    if (idMatch !== null) {
      id = Number(idMatch[1]);
      continue;
    }
    if (!line.trimStart().startsWith("field:")) continue;
    const m = FIELD_LINE.exec(line);
    if (m === null) throw new TracepointFormatError(`line ${i + 1}: malformed field line`);
    const decl = parseDeclaration(m[1] ?? "", i + 1);
    const dataLoc = decl.type.startsWith("__data_loc");
    fields.push({
      name: decl.name,
      type: decl.type,
      offset: Number(m[2]),
      size: Number(m[3]),
      signed: m[4] === "1",
      dataLoc,
      ...(decl.n === undefined ? {} : { arrayLength: decl.n }),
      pointer: !dataLoc && decl.type.includes("*"),
    });
  }
  if (fields.length === 0) {
    throw new TracepointFormatError(`no field lines in the format of ${subsystem}/${event}`);
  }
  return { subsystem, event, id, fields };
}

/** The fields after `__syscall_nr` of a `syscalls/sys_enter_*` format: the syscall's arguments. */
export function syscallArgFields(format: TracepointFormat): readonly TracepointField[] {
  const at = format.fields.findIndex((f) => f.name === "__syscall_nr");
  return at < 0 ? [] : format.fields.slice(at + 1);
}

/** Options of {@link tracefsFormatLookup}. */
export interface TracefsLookupOptions {
  /** tracefs mount point (or a directory of captured files with the same layout). */
  readonly root?: string;
  /** Reads one file; injectable for tests. Defaults to `Deno.readTextFileSync`. */
  readonly readTextFile?: (path: string) => string;
}

/** Where tracefs is normally mounted. */
export const DEFAULT_TRACEFS = "/sys/kernel/tracing";

const SAFE_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * A {@link TracepointFormatLookup} reading `<root>/events/<subsystem>/<event>/format`, memoised
 * per tracepoint for the life of the lookup. A missing file means the kernel has no such
 * tracepoint (or tracefs is not mounted at `root`); the error says which path was tried.
 *
 * @example
 * ```ts
 * const lookup = tracefsFormatLookup({ root: "tests/fixtures/policy/tracefs" });
 * lookup("sched", "sched_process_exec").format?.fields[4]?.name; // "filename"
 * ```
 */
export function tracefsFormatLookup(options: TracefsLookupOptions = {}): TracepointFormatLookup {
  const root = options.root ?? DEFAULT_TRACEFS;
  const read = options.readTextFile ?? ((p: string) => Deno.readTextFileSync(p));
  const memo = new Map<string, FormatLookupResult>();
  return (subsystem, event) => {
    const key = `${subsystem}/${event}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: FormatLookupResult;
    if (!SAFE_NAME.test(subsystem) || !SAFE_NAME.test(event)) {
      result = { error: `"${key}" is not a tracepoint name` };
    } else {
      const path = `${root}/events/${subsystem}/${event}/format`;
      try {
        result = { format: parseTracepointFormat(read(path), subsystem, event) };
      } catch (err) {
        result = { error: describeReadError(err, key, path) };
      }
    }
    memo.set(key, result);
    return result;
  };
}

function describeReadError(err: unknown, key: string, path: string): string {
  if (err instanceof Deno.errors.NotFound) {
    return `this kernel has no tracepoint ${key} (${path} does not exist)`;
  }
  if (err instanceof TracepointFormatError) return `cannot parse ${path}: ${err.message}`;
  return `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`;
}
