/**
 * The agent's user-space time per policy: the event loop adds the time it spent turning each of
 * a policy's records into an export line; the budget guard takes the sums once per window.
 *
 * @module
 */

/** Per policy: ns of user-space time and events handled since the last {@link take}. */
export class PolicyUserTime {
  readonly #window = new Map<string, { ns: number; events: number }>();
  #totalNs = 0;
  #totalEvents = 0;

  /** Average ns per event since start (undefined before the first), for shadow projections. */
  averageNs(): number | undefined {
    return this.#totalEvents > 0 ? this.#totalNs / this.#totalEvents : undefined;
  }

  /** Records `ns` of work on one event of `policy`. */
  add(policy: string, ns: number): void {
    this.#totalNs += ns;
    this.#totalEvents++;
    const w = this.#window.get(policy);
    if (w) {
      w.ns += ns;
      w.events++;
    } else if (this.#window.size < 4096) {
      // Bounded: the manager holds at most a few hundred policies; names past that are not ours.
      this.#window.set(policy, { ns, events: 1 });
    }
  }

  /** The sums since the last call, and a fresh window. */
  take(): Map<string, { ns: number; events: number }> {
    const out = new Map(this.#window);
    this.#window.clear();
    return out;
  }
}
