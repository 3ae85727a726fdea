/**
 * Decodes `spec.usdts` (Tetragon 1.6: USDT probes in a binary, by provider and name). vigil has no
 * USDT program, so a policy with usdts is valid and not runnable; the entries are still checked,
 * so a typo is reported as one.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { decodeArgList } from "./read_hooks.ts";
import type { Reader, Val } from "./yaml_reader.ts";

const USDT_SHAPE = {
  fields: [
    "path",
    "provider",
    "name",
    "message",
    "tags",
    "args",
    "data",
    "selectors",
    "btfPath",
    "return",
    "returnArg",
    "returnArgAction",
  ],
} as const;

/** Why no usdts entry runs in vigil (said once per entry, at the entry). */
export const USDT_NOT_RUNNABLE =
  "usdts (USDT probes in a user binary) are valid Tetragon, but vigil's engine has no USDT " +
  "program (it would attach a uprobe at each probe site and read the arguments from the " +
  "binary's .note.stapsdt specs): not runnable";

/** Decodes `spec.usdts`; returns how many entries it has. */
export function decodeUsdts(r: Reader, v: Val | undefined): number {
  const items = r.seq(v);
  for (const item of items) {
    const f = r.map(item, USDT_SHAPE);
    if (f === undefined) continue;
    r.requiredString(f, "path");
    r.requiredString(f, "provider");
    r.requiredString(f, "name");
    decodeArgList(r, r.seq(f.get("args")), "uprobe", "args");
    r.unrunnable(item, USDT_NOT_RUNNABLE);
  }
  return items.length;
}
