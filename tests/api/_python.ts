/**
 * The API tests use Python's socket module as an independent unix-socket peer; without python3
 * those tests are ignored loudly (the reason is in the test name).
 */
import { requires } from "../_helpers/requires.ts";

/** `requires(name, "python3")`. */
export function needsPython(name: string): { name: string; ignore: boolean } {
  return requires(name, "python3");
}
