/**
 * Saving a policy added over the API in the policy directory: written to a temporary file first
 * and renamed into place only once its new version runs, so a full disk or an unwritable
 * directory refuses the change before anything is attached, and a failed rename undoes it.
 *
 * @module
 */

import { clip } from "./spec/mod.ts";

/** The reason of a file error without the paths Deno appends (the message names the path once). */
function why(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return clip(/^.*?\(os error \d+\)/.exec(message)?.[0] ?? message);
}

/** A policy text written beside its target, waiting to be renamed into place. */
export interface StagedWrite {
  readonly path: string;
  /** Renames the text into place; throws (with the path and the reason) when it cannot. */
  commit(): void;
  /** Removes the temporary file. */
  abort(): void;
}

/** Writes `text` to a temporary file next to `path`; throws with a precise message. */
export function stagePolicyWrite(path: string, text: string): StagedWrite {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const abort = () => {
    try {
      Deno.removeSync(tmp);
    } catch { /* already gone */ }
  };
  try {
    Deno.writeTextFileSync(tmp, text);
  } catch (err) {
    abort();
    throw new Error(`cannot save the policy to ${path}: ${why(err)}`, { cause: err });
  }
  return {
    path,
    commit: () => {
      try {
        Deno.renameSync(tmp, path);
      } catch (err) {
        abort();
        throw new Error(`cannot save the policy to ${path}: ${why(err)}`, { cause: err });
      }
    },
    abort,
  };
}
