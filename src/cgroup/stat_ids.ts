/**
 * A path's inode and device numbers as bigint: a cgroup's id is its directory's inode number, a
 * 64-bit value the kernel reports in events. `Deno.statSync` returns them as numbers, exact up to
 * 2^53; kernfs numbers cgroups from 1 and moves past 2^32 only after 4 billion cgroups, so a value
 * beyond 2^53 is refused rather than rounded. (`node:fs`'s bigint stat would also do, but it pulls
 * Deno's Node stream layer into the agent: ~5 MiB of RSS.)
 *
 * @module
 */

/** The identity of a file. */
export interface StatIds {
  readonly ino: bigint;
  readonly dev: bigint;
  readonly isDirectory: boolean;
}

function exact(path: string, what: string, n: number | null): bigint {
  if (n === null || !Number.isSafeInteger(n) || n < 0) {
    throw new Error(`stat ${path}: ${what} ${n} cannot be read exactly (beyond 2^53)`);
  }
  return BigInt(n);
}

/** Stats `path` (following symlinks); throws as `Deno.statSync` does. */
export function statIds(path: string): StatIds {
  const st = Deno.statSync(path);
  return {
    ino: exact(path, "inode", st.ino),
    dev: exact(path, "device", st.dev),
    isDirectory: st.isDirectory,
  };
}
