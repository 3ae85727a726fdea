/**
 * Byte helpers shared by the readers that collect a stream in chunks (BPF iterators, bounded file
 * reads, gzip files).
 *
 * @module
 */

/** One array with the bytes of `chunks`, in order. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
