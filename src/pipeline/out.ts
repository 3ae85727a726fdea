/**
 * The single exit of the record pipeline: every event line, emitted at once or after it waited
 * for its container's metadata, is counted here and written to the exporter and the event hub.
 *
 * @module
 */
import type { EventHub } from "../api/types.ts";
import type { EventSink } from "../events/sink.ts";
import type { JsonLinesExporter } from "../export/json_lines.ts";

/** One counter sample, for the metrics snapshot. */
export interface EventCount {
  readonly type: string;
  /** "" for events no policy raised. */
  readonly policy: string;
  readonly count: number;
}

/** The exporter and the event hub behind one {@link EventSink}, with the counts per type and policy. */
export class EventOut implements EventSink {
  readonly #exporter: Pick<JsonLinesExporter, "writeLine" | "flush">;
  readonly #hub: Pick<EventHub, "publish">;
  /** By export type, policy events included. */
  readonly #byType: Record<string, number> = {};
  /** Events the agent raised itself, by export type (listed from the start, zeros included). */
  readonly #ownByType: Record<string, number> = {};
  readonly #ownTypes: ReadonlySet<string>;
  /** A policy's own events (not the budget guard's events about it). */
  readonly #byPolicy: Record<string, number> = {};

  /**
   * `ownTypes`: the event types the agent raises itself, counted (as 0) from the start; one
   * naming a policy (the budget guard's) still counts as the agent's, not as that policy's.
   */
  constructor(
    exporter: Pick<JsonLinesExporter, "writeLine" | "flush">,
    hub: Pick<EventHub, "publish">,
    ownTypes: readonly string[],
  ) {
    this.#exporter = exporter;
    this.#hub = hub;
    this.#ownTypes = new Set(ownTypes);
    for (const type of ownTypes) this.#byType[type] = this.#ownByType[type] = 0;
  }

  emit(
    type: string,
    line: string,
    policy: string | undefined,
    container: string | undefined,
  ): void {
    this.#byType[type] = (this.#byType[type] ?? 0) + 1;
    if (policy !== undefined && !this.#ownTypes.has(type)) {
      this.#byPolicy[policy] = (this.#byPolicy[policy] ?? 0) + 1;
    } else this.#ownByType[type] = (this.#ownByType[type] ?? 0) + 1;
    this.#exporter.writeLine(line);
    this.#hub.publish(line, { type, policy, container });
  }

  flush(): void {
    this.#exporter.flush();
  }

  /** Events of policy `policy` written so far (explain's last stage). */
  exported(policy: string): number {
    return this.#byPolicy[policy] ?? 0;
  }

  /** Events written so far, by export type. */
  byType(): Record<string, number> {
    return { ...this.#byType };
  }

  /** The `vigil_events_total` samples: own events by type, policy events by policy (type `policy`). */
  counts(): EventCount[] {
    return [
      ...Object.entries(this.#ownByType).map(([type, count]) => ({ type, policy: "", count })),
      ...Object.entries(this.#byPolicy).map(([policy, count]) => ({
        type: "policy",
        policy,
        count,
      })),
    ];
  }
}
