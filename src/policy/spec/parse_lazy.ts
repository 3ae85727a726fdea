/**
 * {@link parsePolicy}, loaded on first use. The YAML library and the parser behind it hold ~10 MiB
 * of RSS once imported; an agent with no policy file never needs them, so nothing on the agent's
 * path imports `parse.ts` statically.
 *
 * @module
 */
import type { ParseResult } from "./parse.ts";

let parser: Promise<typeof import("./parse.ts")> | undefined;

/** Same as {@link parsePolicy}, after importing the parser once. */
export async function parsePolicyLazily(text: string, file: string): Promise<ParseResult> {
  parser ??= import("./parse.ts");
  return (await parser).parsePolicy(text, file);
}
