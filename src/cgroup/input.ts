/**
 * Reading the `/proc` files the cgroup decision runs on, live or captured, with errors that name
 * the file.
 *
 * @module
 */

/** A cgroup input file could not be read or parsed; the message starts with its path. */
export class CgroupInputError extends Error {
  /** Always `"CgroupInputError"`. */
  override name = "CgroupInputError";
  /** The file that failed. */
  readonly path: string;

  /** Creates the error for `path`, keeping the underlying error as `cause`. */
  constructor(path: string, cause: unknown) {
    super(`${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.path = path;
  }
}

/**
 * Reads `path` and parses it with `parse`; any failure becomes a {@link CgroupInputError}.
 *
 * @example
 * ```ts
 * const mounts = readInputFile("/proc/self/mountinfo", parseMountinfo);
 * ```
 */
export function readInputFile<T>(path: string, parse: (text: string) => T): T {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new CgroupInputError(path, err);
  }
  try {
    return parse(text);
  } catch (err) {
    throw new CgroupInputError(path, err);
  }
}
