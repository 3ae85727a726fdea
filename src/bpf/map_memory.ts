/**
 * Kernel memory of BPF maps, as the kernel charges it (`memlock` in /proc/self/fdinfo), so
 * `vigil status`, `/metrics` and the footprint benchmark show what each object costs on the host.
 *
 * @module
 */

/** One map's kernel memory. */
export interface MapMemory {
  /** Which part of vigil owns it, e.g. `process` or `policy`. */
  readonly owner: string;
  readonly name: string;
  /** Kernel map id (a map shared by two objects is counted once, for its first owner). */
  readonly id: number;
  readonly bytes: number;
}

/** `map_id` and `memlock` of one of this process's map fds; null if the fd is not a map. */
export function readMapFdInfo(fd: number): { id: number; bytes: number } | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
  } catch {
    return null;
  }
  const id = /^map_id:\s+(\d+)/m.exec(text)?.[1];
  if (id === undefined) return null;
  return { id: Number(id), bytes: Number(/^memlock:\s+(\d+)/m.exec(text)?.[1] ?? 0) };
}

/** Every map of `objects` (owner → name/fd list), each kernel map once, first owner wins. */
export function mapMemory(
  objects: Iterable<{ owner: string; maps: readonly { name: string; fd: number }[] }>,
): MapMemory[] {
  const seen = new Set<number>();
  const out: MapMemory[] = [];
  for (const { owner, maps } of objects) {
    for (const { name, fd } of maps) {
      const info = fd >= 0 ? readMapFdInfo(fd) : null;
      if (info === null || seen.has(info.id)) continue;
      seen.add(info.id);
      out.push({ owner, name, id: info.id, bytes: info.bytes });
    }
  }
  return out;
}

/** Bytes per owner, e.g. `{ process: 7_600_000, policy: 5_100_000 }`. */
export function bytesByOwner(maps: readonly MapMemory[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) out[m.owner] = (out[m.owner] ?? 0) + m.bytes;
  return out;
}
