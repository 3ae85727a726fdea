/**
 * The root gate of privileged real-kernel tests (see requires.ts): ignored LOUDLY, with the
 * reason in the test name, instead of passing silently.
 *
 * @module
 */
import { missing, requires } from "./requires.ts";

/** Why privileged tests cannot run here, or null when they can. */
export const PRIVILEGED_SKIP_REASON: string | null = missing("root");

/** `requires(name, "root")`. */
export function privileged(name: string): { name: string; ignore: boolean } {
  return requires(name, "root");
}
