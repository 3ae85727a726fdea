/**
 * Size-based rotation of an export file: `path` → `path.1` → … → `path.N`, the oldest dropped.
 *
 * @module
 */

/** The name of backup number `n` (1 = newest) of `path`. */
export function backupPath(path: string, n: number): string {
  return `${path}.${n}`;
}

/**
 * Shifts the backups of `path` by one: deletes `path.N` (N = `maxBackups`), renames `path.i` to
 * `path.(i+1)` from the oldest down, then `path` to `path.1`. With `maxBackups` 0 it deletes `path`.
 * Missing files are skipped; any other failure throws (the caller keeps its open file and counts
 * the error). The caller then creates a fresh `path`.
 *
 * @example
 * ```ts
 * rotateFiles("/var/log/vigil/events.json", 5);
 * ```
 */
export function rotateFiles(path: string, maxBackups: number): void {
  if (maxBackups <= 0) {
    ignoreNotFound(() => Deno.removeSync(path));
    return;
  }
  ignoreNotFound(() => Deno.removeSync(backupPath(path, maxBackups)));
  for (let i = maxBackups - 1; i >= 1; i--) {
    ignoreNotFound(() => Deno.renameSync(backupPath(path, i), backupPath(path, i + 1)));
  }
  ignoreNotFound(() => Deno.renameSync(path, backupPath(path, 1)));
}

function ignoreNotFound(op: () => void): void {
  try {
    op();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
