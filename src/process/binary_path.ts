/**
 * The exported `binary`: the path given to exec, made absolute against the cwd when it was
 * relative (`./run.sh`, `bin/x`), as Tetragon does.
 *
 * @module
 */
import { posix } from "node:path";

/** Absolute binary path from exec's filename and the cwd at exec ("" cwd: left as given). */
export function resolveBinary(filename: string, cwd: string): string {
  if (filename.startsWith("/") || cwd === "") return filename;
  return posix.resolve(cwd, filename);
}
