/**
 * The agent's cleanup stack: what was started so far, released in reverse order by one owner
 * (as libbpf-tools' single cleanup path), also when a start step fails half way.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";

/** What was started so far, released in reverse order (one owner per native handle). */
export class Cleanups {
  readonly #steps: (() => void | Promise<void>)[] = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  push(step: () => void | Promise<void>): void {
    this.#steps.push(step);
  }

  async unwind(): Promise<void> {
    for (const step of this.#steps.reverse()) {
      try {
        await step();
      } catch (err) {
        this.#logger.warn("cleanup failed", { error: String(err) });
      }
    }
    this.#steps.length = 0;
  }
}
