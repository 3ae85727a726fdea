/**
 * Reads a gzip file (e.g. `/proc/config.gz`) through zlib's `gzopen`/`gzread`, the libz that
 * libbpf already loaded (embedded or the host's). `node:zlib` would do the same but pulls Deno's
 * Node stream layer into the agent: ~5 MiB of RSS for one small file read once.
 *
 * @module
 */
import { concatBytes } from "../bytes.ts";

const ZLIB = {
  gzopen: { parameters: ["buffer", "buffer"], result: "pointer" },
  gzread: { parameters: ["pointer", "buffer", "u32"], result: "i32" },
  gzclose: { parameters: ["pointer"], result: "i32" },
} as const;

const CHUNK = 64 * 1024;

/** Thrown when the file cannot be opened or read, or is larger than allowed. */
export class GzipReadError extends Error {
  override name = "GzipReadError";
}

function cString(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

/**
 * The decompressed bytes of the gzip file at `path`, at most `maxBytes` of them (a larger file is
 * an error, not a silent cut). Throws {@link GzipReadError}.
 *
 * @example
 * ```ts
 * const text = new TextDecoder().decode(readGzipFile("/proc/config.gz", 8 << 20));
 * ```
 */
export function readGzipFile(path: string, maxBytes: number): Uint8Array {
  let z: Deno.DynamicLibrary<typeof ZLIB>;
  try {
    // The soname of the loaded copy first (embedded libz has no path on disk), then the disk.
    z = Deno.dlopen("libz.so.1", ZLIB);
  } catch (err) {
    throw new GzipReadError(`read ${path}: cannot load libz.so.1: ${String(err)}`);
  }
  try {
    const file = z.symbols.gzopen(cString(path), cString("rb"));
    if (file === null) throw new GzipReadError(`read ${path}: cannot open it`);
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const chunk = new Uint8Array(CHUNK);
        const n = z.symbols.gzread(file, chunk, CHUNK);
        if (n < 0) throw new GzipReadError(`read ${path}: not a readable gzip stream`);
        if (n === 0) break;
        total += n;
        if (total > maxBytes) {
          throw new GzipReadError(`read ${path}: more than ${maxBytes} bytes decompressed`);
        }
        chunks.push(chunk.subarray(0, n));
      }
    } finally {
      z.symbols.gzclose(file);
    }
    return concatBytes(chunks);
  } finally {
    z.close();
  }
}
