/**
 * The one ordered queue of changes to the running policy set: add, replace, delete, reload (API
 * or SIGHUP) and the start-up load each run alone, in arrival order, so an answer given for one
 * change stays true: a later change sees everything an earlier one did. The queue is bounded: a
 * change beyond it is refused at once (HTTP 503) instead of piling up; a reload asked for while
 * another reload is the last change still waiting joins it instead of queueing a second.
 *
 * @module
 */

/** A change refused or failed before the policy set changed; `status` is the HTTP status. */
export class PolicyChangeError extends Error {
  readonly status: 500 | 503;

  constructor(status: 500 | 503, message: string) {
    super(message);
    this.name = "PolicyChangeError";
    this.status = status;
  }
}

interface Tail {
  readonly key: string | undefined;
  started: boolean;
  readonly done: Promise<unknown>;
}

/** Runs changes one at a time, in order, with at most `capacity` waiting. */
export class ChangeQueue {
  readonly #capacity: number;
  #waiting = 0;
  #tail: Tail = { key: undefined, started: true, done: Promise.resolve() };

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Changes waiting behind the running one. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Queues `change`. With `joinKey`, a request that finds a change of the same key waiting at
   * the end of the queue gets that change's outcome. Rejects with a 503 {@link PolicyChangeError}
   * when `capacity` changes are already waiting.
   */
  run<T>(change: () => T | Promise<T>, joinKey?: string): Promise<T> {
    const tail = this.#tail;
    if (joinKey !== undefined && tail.key === joinKey && !tail.started) {
      return tail.done as Promise<T>;
    }
    if (this.#waiting >= this.#capacity) {
      return Promise.reject(
        new PolicyChangeError(
          503,
          `${this.#waiting} policy changes are already waiting (vigil's limit); try again later`,
        ),
      );
    }
    this.#waiting++;
    const next: Tail = {
      key: joinKey,
      started: false,
      done: tail.done.catch(() => {}).then(() => {
        this.#waiting--;
        next.started = true;
        return change();
      }),
    };
    this.#tail = next;
    return next.done as Promise<T>;
  }
}
