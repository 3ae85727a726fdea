/**
 * Parser for `/proc/<pid>/mountinfo` (proc(5)). Unlike `/proc/mounts` it carries the mount's root
 * inside its filesystem, which is what tells a hierarchy root from a bind-mounted sub-tree.
 *
 * Line format (fields are separated by single spaces, a variable number of optional fields ends
 * at the `-` separator):
 *
 * ```text
 * 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 * (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
 * ```
 *
 * @module
 */

/** An optional field such as `shared:1`, `master:2`, `propagate_from:3` or `unbindable`. */
export interface OptionalField {
  /** The tag before the colon, e.g. `shared`. */
  tag: string;
  /** The value after the colon, if any. */
  value?: string;
}

/** One parsed mountinfo line. Paths are decoded (`\040` becomes a space). */
export interface MountInfo {
  /** Unique id of the mount (may be reused after unmount). */
  mountId: number;
  /** Id of the parent mount (the mount's own id for the namespace root). */
  parentId: number;
  /** Major number of the filesystem's device (`st_dev`). */
  major: number;
  /** Minor number of the filesystem's device (`st_dev`). */
  minor: number;
  /**
   * Root of the mount within its filesystem. For cgroupfs this is the cgroup shown at the
   * mountpoint, rendered relative to the *reader's* cgroup namespace.
   */
  root: string;
  /** Mountpoint relative to the reader's root directory. */
  mountPoint: string;
  /** Per-mount options, e.g. `["rw", "nosuid"]`. */
  mountOptions: string[];
  /** Propagation fields between the options and the `-` separator. */
  optionalFields: OptionalField[];
  /** Filesystem type, e.g. `cgroup2` or `fuse.lxcfs`. */
  fsType: string;
  /** Mount source, e.g. `/dev/vda1`, `cgroup` or `none`. */
  source: string;
  /** Per-superblock options, e.g. `["rw", "memory"]`. */
  superOptions: string[];
  /** 1-based line number in the parsed text, for messages. */
  line: number;
}

/** A mountinfo line that does not follow the format; the message names the line. */
export class MountinfoParseError extends Error {
  /** Always `"MountinfoParseError"`. */
  override name = "MountinfoParseError";
  /** 1-based line number of the offending line. */
  readonly line: number;

  /** Creates the error for `line` with a short description of what is wrong. */
  constructor(line: number, problem: string) {
    super(`mountinfo line ${line}: ${problem}`);
    this.line = line;
  }
}

/**
 * Decodes the octal escapes the kernel uses for space, tab, newline and backslash
 * (`\040`, `\011`, `\012`, `\134`); any other `\NNN` is decoded the same way.
 *
 * @example
 * ```ts
 * decodeMountinfoField("/mnt/my\\040disk"); // "/mnt/my disk"
 * ```
 */
export function decodeMountinfoField(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

const DECIMAL = /^\d+$/;
const DEVICE = /^(\d+):(\d+)$/;

/**
 * Parses mountinfo text into one {@link MountInfo} per non-empty line, in file order (which
 * means nothing: callers must not infer precedence from it). Throws {@link MountinfoParseError}
 * on the first malformed line.
 *
 * @example
 * ```ts
 * const [m] = parseMountinfo("35 24 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
 * m.fsType; // "cgroup"
 * ```
 */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? "";
    if (raw.trim() === "") continue;
    mounts.push(parseLine(raw, i + 1));
  }
  return mounts;
}

function parseLine(raw: string, line: number): MountInfo {
  // Split on single spaces: the kernel escapes spaces inside fields, and an empty source shows
  // up as an empty field between two spaces.
  const fields = raw.split(" ");
  const separator = fields.indexOf("-", 6);
  if (separator < 0) throw new MountinfoParseError(line, "no ' - ' separator after field 6");
  const tail = fields.slice(separator + 1);
  if (tail.length !== 3) {
    throw new MountinfoParseError(
      line,
      `expected filesystem type, source and super options after ' - ', found ${tail.length} fields`,
    );
  }
  const [mountId, parentId, device, root, mountPoint, options] = fields;
  if (!mountId || !DECIMAL.test(mountId) || !parentId || !DECIMAL.test(parentId)) {
    throw new MountinfoParseError(line, "mount id and parent id must be decimal numbers");
  }
  const dev = DEVICE.exec(device ?? "");
  if (!dev) throw new MountinfoParseError(line, `device '${device}' is not major:minor`);
  if (!root || !mountPoint || options === undefined) {
    throw new MountinfoParseError(line, "missing root, mountpoint or mount options");
  }
  const [fsType, source, superOptions] = tail as [string, string, string];
  if (fsType === "") throw new MountinfoParseError(line, "empty filesystem type");
  return {
    mountId: Number(mountId),
    parentId: Number(parentId),
    major: Number(dev[1]),
    minor: Number(dev[2]),
    root: decodeMountinfoField(root),
    mountPoint: decodeMountinfoField(mountPoint),
    mountOptions: splitOptions(options),
    optionalFields: fields.slice(6, separator).filter((f) => f !== "").map(parseOptionalField),
    fsType: decodeMountinfoField(fsType),
    source: decodeMountinfoField(source),
    superOptions: splitOptions(superOptions),
    line,
  };
}

function splitOptions(field: string): string[] {
  return field === "" ? [] : field.split(",").map(decodeMountinfoField);
}

function parseOptionalField(field: string): OptionalField {
  const colon = field.indexOf(":");
  return colon < 0 ? { tag: field } : { tag: field.slice(0, colon), value: field.slice(colon + 1) };
}

/**
 * Encodes a device number the way the kernel reports it in `st_dev` (`new_encode_dev`), so a
 * mountinfo `major:minor` can be compared with a `stat` result.
 *
 * @example
 * ```ts
 * encodeDevice(0, 32); // 32n
 * ```
 */
export function encodeDevice(major: number, minor: number): bigint {
  const maj = BigInt(major);
  const min = BigInt(minor);
  return (min & 0xffn) | (maj << 8n) | ((min & ~0xffn) << 12n);
}
