/**
 * Reads one policy file within the size limit: never more than the limit plus one byte, so a huge
 * (or endless) file costs nothing but the error saying so.
 *
 * @module
 */

import { clip } from "./bound_issues.ts";
import { POLICY_INPUT_LIMITS } from "./input_limits.ts";

/** Reads a policy file of at most `maxBytes` bytes (more is an error, read no further). */
export async function readPolicyFile(
  path: string,
  maxBytes: number = POLICY_INPUT_LIMITS.maxBytes,
): Promise<{ text: string } | { error: string }> {
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const buf = new Uint8Array(maxBytes + 1);
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    if (n > maxBytes) return { error: `the file is over ${maxBytes} bytes (vigil's limit)` };
    return { text: new TextDecoder().decode(buf.subarray(0, n)) };
  } catch (err) {
    return {
      error: `cannot read the file: ${clip(err instanceof Error ? err.message : String(err))}`,
    };
  } finally {
    file?.close();
  }
}
