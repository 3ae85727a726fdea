/**
 * Where event lines leave the agent (implemented by `src/pipeline/out.ts`: exporter, event hub
 * and the counts). Everything that emits, at once or after waiting, writes through one sink.
 *
 * @module
 */

/** The single exit of event lines. */
export interface EventSink {
  /** Writes one line: `type` is its export type, `policy` the policy that raised it, if any. */
  emit(type: string, line: string, policy: string | undefined, container: string | undefined): void;
  /** Pushes buffered lines out (after events emitted outside the ring reader's drain). */
  flush(): void;
}
