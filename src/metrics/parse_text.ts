/**
 * A minimal reader of the Prometheus text format, enough for `vigil top` to read the agent's own
 * `/metrics` (sample lines with labels; comments skipped; no timestamps expected).
 *
 * @module
 */

/** One parsed sample line. */
export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_m, c: string) => (c === "n" ? "\n" : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) throw new Error(`metrics: bad labels in line: ${line}`);
    labels[m[1]!] = unescape(m[2]!);
    at = re.lastIndex;
  }
  return labels;
}

function parseNumber(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

/**
 * Parses exposition text into samples; throws on a malformed sample line.
 *
 * @example
 * ```ts
 * parseMetricsText('vigil_events_total{type="process_exec",policy=""} 3\n');
 * // [{ name: "vigil_events_total", labels: { type: "process_exec", policy: "" }, value: 3 }]
 * ```
 */
export function parseMetricsText(text: string): ParsedSample[] {
  const out: ParsedSample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE_RE.exec(line);
    if (m === null) throw new Error(`metrics: bad sample line: ${line}`);
    const value = parseNumber(m[4]!);
    if (Number.isNaN(value) && m[4] !== "NaN") throw new Error(`metrics: bad value in: ${line}`);
    out.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3], line) : {}, value });
  }
  return out;
}
