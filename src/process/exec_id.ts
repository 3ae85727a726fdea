/**
 * Exec ids: the opaque, cluster-unique process identity in exported events,
 * `base64("<node_name>:<ktime_ns>:<pid>")` (standard alphabet, padded), as Tetragon defines it.
 *
 * The agent computes one per process instance (at exec/clone or from the start-up scan) and keeps it
 * in the process cache; nothing computes it per event.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The parts of an exec id. */
export interface ExecIdParts {
  nodeName: string;
  ktimeNs: bigint;
  pid: number;
}

/** Printable ASCII: btoa-safe (anything else takes the UTF-8 path, same result for ASCII). */
const PRINTABLE_ASCII = /^[ -~]*$/;
const DIGITS = /^[0-9]+$/;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Returns the exec id of the process instance `(pid, ktimeNs)` on node `nodeName`.
 *
 * @example
 * ```ts
 * execId("tetragon-dev-control-plane", 16817705012542n, 64746);
 * // "dGV0cmFnb24tZGV2LWNvbnRyb2wtcGxhbmU6MTY4MTc3MDUwMTI1NDI6NjQ3NDY="
 * ```
 */
export function execId(nodeName: string, ktimeNs: bigint, pid: number): string {
  const text = `${nodeName}:${ktimeNs}:${pid}`;
  // btoa takes Latin-1 and is the fastest here; node names are ASCII in practice, anything else
  // is encoded as UTF-8.
  return PRINTABLE_ASCII.test(nodeName) ? btoa(text) : Buffer.from(text, "utf8").toString("base64");
}

/**
 * Decodes an exec id made by {@link execId}; throws a `TypeError` naming the id when it is not one.
 * The node name may itself contain `:` (the last two fields are ktime and pid).
 *
 * @example
 * ```ts
 * parseExecId("dGV0cmFnb24tZGV2LWNvbnRyb2wtcGxhbmU6MTY4MTc3MDUwMTI1NDI6NjQ3NDY=");
 * // { nodeName: "tetragon-dev-control-plane", ktimeNs: 16817705012542n, pid: 64746 }
 * ```
 */
export function parseExecId(id: string): ExecIdParts {
  let text: string;
  try {
    const latin1 = atob(id);
    const bytes = new Uint8Array(latin1.length);
    for (let i = 0; i < latin1.length; i++) bytes[i] = latin1.charCodeAt(i);
    text = utf8Decoder.decode(bytes);
  } catch (err) {
    throw new TypeError(`parse exec id ${JSON.stringify(id)}: not base64 of UTF-8 text`, {
      cause: err,
    });
  }
  const pidSep = text.lastIndexOf(":");
  const ktimeSep = pidSep > 0 ? text.lastIndexOf(":", pidSep - 1) : -1;
  const ktime = text.slice(ktimeSep + 1, pidSep);
  const pid = text.slice(pidSep + 1);
  if (ktimeSep < 0 || !DIGITS.test(ktime) || !DIGITS.test(pid) || pid.length > 10) {
    throw new TypeError(
      `parse exec id ${JSON.stringify(id)}: decodes to ${
        JSON.stringify(text)
      }, not "<node>:<ktime>:<pid>"`,
    );
  }
  return { nodeName: text.slice(0, ktimeSep), ktimeNs: BigInt(ktime), pid: Number(pid) };
}
