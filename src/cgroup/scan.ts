/**
 * Walks a cgroup hierarchy and maps every cgroup's id to its path, so containers that existed
 * before the agent started are known. A cgroup's id is its directory inode: on 64-bit kernels
 * kernfs reports the full 64-bit kernfs node id as `st_ino`, the value BPF reads as
 * `cgroup->kn->id`. It is kept as bigint because JS numbers lose precision above 2^53.
 *
 * @module
 */
import { statIds } from "./stat_ids.ts";

/** Options for {@link scanHierarchy}. */
export interface ScanOptions {
  /** Deepest level walked below the root (root = 0); default 32. Real layouts stay below 12. */
  maxDepth?: number;
  /** Called for each directory that could not be read or stat'ed (other than vanishing). */
  onError?: (path: string, error: unknown) => void;
}

/**
 * Returns cgroup id → path relative to the hierarchy root (`/` for the root itself,
 * `/kubepods.slice/...` below it). Directories that vanish during the walk (a container exiting)
 * are skipped silently; other errors are reported through `onError` and skipped. Mounts below the
 * root (another filesystem) are not entered.
 *
 * @example
 * ```ts
 * const ids = await scanHierarchy("/sys/fs/cgroup");
 * ids.get(1n); // "/"
 * ```
 */
export async function scanHierarchy(
  mountpoint: string,
  options: ScanOptions = {},
): Promise<Map<bigint, string>> {
  const maxDepth = options.maxDepth ?? 32;
  const result = new Map<bigint, string>();
  const root = statIds(mountpoint);
  result.set(root.ino, "/");
  const pending: { dir: string; rel: string; depth: number }[] = [
    { dir: mountpoint, rel: "", depth: 0 },
  ];
  while (pending.length > 0) {
    const { dir, rel, depth } = pending.pop() as (typeof pending)[number];
    if (depth >= maxDepth) continue;
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isDirectory) continue;
        const path = `${dir}/${entry.name}`;
        const child = `${rel}/${entry.name}`;
        try {
          const st = statIds(path);
          if (st.dev !== root.dev) continue;
          result.set(st.ino, child);
          pending.push({ dir: path, rel: child, depth: depth + 1 });
        } catch (err) {
          if (!isVanished(err)) options.onError?.(path, err);
        }
      }
    } catch (err) {
      if (!isVanished(err)) options.onError?.(dir, err);
    }
  }
  return result;
}

/** ENOENT (and ENODEV for a cgroup being torn down) mean the directory went away mid-walk. */
function isVanished(err: unknown): boolean {
  if (err instanceof Deno.errors.NotFound) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ENOENT" || code === "ENODEV";
}
