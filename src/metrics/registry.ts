/**
 * A small metrics registry that renders the Prometheus text exposition format (0.0.4).
 *
 * Two ways to feed a family, chosen per family:
 * - **bound children**: `family.labels(...values)` once (at setup, not per event), then
 *   `child.inc()` on the hot path, which is a plain number add with no label hashing;
 * - **collect at scrape**: a `collect` callback that reads the agent's own counters when
 *   `/metrics` is scraped, so the hot path pays nothing at all.
 *
 * Hand-written rather than `prom-client`, whose bound children hash the label object on every
 * `inc()`.
 *
 * @module
 */

/** Prometheus metric types this registry renders. */
export type MetricType = "counter" | "gauge";

/** A sample value: bigint for kernel u64 counters, number otherwise. */
export type SampleValue = number | bigint;

/** One sample produced by a collect callback; `labels` are values in `labelNames` order. */
export interface Sample {
  readonly labels: readonly string[];
  readonly value: SampleValue;
}

/** Options of a family. */
export interface FamilyOptions {
  /**
   * Called at every scrape; its samples are rendered after the bound children. A family with a
   * collector usually has no bound children.
   */
  readonly collect?: () => Iterable<Sample>;
}

/** A pre-bound series: increments are plain number adds. */
export class MetricChild {
  /** The current value. */
  value = 0;

  /** Adds `n` (default 1). Counters must only grow; this is not checked on the hot path. */
  inc(n = 1): void {
    this.value += n;
  }

  /** Sets the value (gauges). */
  set(n: number): void {
    this.value = n;
  }
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One metric family: a name, help, type, label names, and its series. */
export class MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  collect: (() => Iterable<Sample>) | undefined;
  readonly #children = new Map<string, { labels: readonly string[]; child: MetricChild }>();

  /** Use {@link MetricsRegistry.counter} or {@link MetricsRegistry.gauge}. */
  constructor(
    name: string,
    help: string,
    type: MetricType,
    labelNames: readonly string[],
    options: FamilyOptions,
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.labelNames = [...labelNames];
    this.collect = options.collect;
    if (labelNames.length === 0 && !options.collect) this.labels();
  }

  /**
   * The child for these label values (created on first use). Bind once and keep the child;
   * this lookup joins the values into a key.
   */
  labels(...values: string[]): MetricChild {
    if (values.length !== this.labelNames.length) {
      throw new RangeError(
        `${this.name}: expected ${this.labelNames.length} label values (${
          this.labelNames.join(", ")
        }), got ${values.length}`,
      );
    }
    const key = values.join("\u0000");
    let entry = this.#children.get(key);
    if (entry === undefined) {
      entry = { labels: [...values], child: new MetricChild() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Forgets the series with these label values (e.g. a deleted policy). */
  remove(...values: string[]): void {
    this.#children.delete(values.join("\u0000"));
  }

  /** The bound series and, when there is a collector, its samples. */
  *samples(): Iterable<Sample> {
    for (const { labels, child } of this.#children.values()) yield { labels, value: child.value };
    if (this.collect) yield* this.collect();
  }
}

/** Options of a {@link MetricsRegistry}. */
export interface RegistryOptions {
  /**
   * Called when a collector throws; the family is then rendered without samples and the scrape
   * goes on. Default: rethrow (the scrape fails).
   */
  readonly onCollectError?: (family: string, error: unknown) => void;
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** Escapes a label value for the text format: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value; // the common case, at every scrape
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Formats a sample value as the text format expects (`NaN`, `+Inf`, `-Inf`, integers exact). */
export function formatValue(value: SampleValue): string {
  if (typeof value === "bigint") return value.toString();
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Holds metric families and renders them for `GET /metrics`. */
export class MetricsRegistry {
  readonly #families = new Map<string, MetricFamily>();
  readonly #onCollectError: RegistryOptions["onCollectError"];

  constructor(options: RegistryOptions = {}) {
    this.#onCollectError = options.onCollectError;
  }

  /**
   * Registers (or returns the existing) counter family. The name must end in `_total`.
   *
   * @example
   * ```ts
   * const registry = new MetricsRegistry();
   * const events = registry.counter("vigil_events_total", "Events exported.", ["type"]);
   * const exec = events.labels("process_exec"); // bind once
   * exec.inc(); // hot path: a number add
   * ```
   */
  counter(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: FamilyOptions = {},
  ): MetricFamily {
    if (!name.endsWith("_total")) {
      throw new Error(`counter ${name}: counter names end in _total`);
    }
    return this.#register(name, help, "counter", labelNames, options);
  }

  /**
   * Registers (or returns the existing) gauge family.
   *
   * @example
   * ```ts
   * const registry = new MetricsRegistry();
   * registry.gauge("vigil_process_cache_size", "Processes cached.", [], {
   *   collect: () => [{ labels: [], value: 42 }],
   * });
   * ```
   */
  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    options: FamilyOptions = {},
  ): MetricFamily {
    if (name.endsWith("_total")) throw new Error(`gauge ${name}: only counters end in _total`);
    return this.#register(name, help, "gauge", labelNames, options);
  }

  #register(
    name: string,
    help: string,
    type: MetricType,
    labelNames: readonly string[],
    options: FamilyOptions,
  ): MetricFamily {
    if (!NAME_RE.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is invalid`);
    for (const label of labelNames) {
      if (!LABEL_RE.test(label) || label.startsWith("__")) {
        throw new Error(`${name}: label name ${JSON.stringify(label)} is invalid`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new Error(`${name}: duplicate label names`);
    }
    const existing = this.#families.get(name);
    if (existing) {
      if (existing.type !== type || existing.labelNames.join() !== labelNames.join()) {
        throw new Error(`${name}: already registered as a ${existing.type} with other labels`);
      }
      if (options.collect) existing.collect = options.collect;
      return existing;
    }
    const family = new MetricFamily(name, help, type, labelNames, options);
    this.#families.set(name, family);
    return family;
  }

  /** The family registered under `name`, if any. */
  get(name: string): MetricFamily | undefined {
    return this.#families.get(name);
  }

  /** Renders every family in registration order, in the text exposition format. */
  render(): string {
    const out: string[] = [];
    for (const family of this.#families.values()) {
      out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`);
      out.push(`# TYPE ${family.name} ${family.type}`);
      let samples: Sample[];
      try {
        samples = [...family.samples()];
      } catch (err) {
        if (!this.#onCollectError) throw err;
        this.#onCollectError(family.name, err);
        continue;
      }
      for (const sample of samples) out.push(renderSample(family, sample));
    }
    return out.join("\n") + "\n";
  }
}

function renderSample(family: MetricFamily, sample: Sample): string {
  const names = family.labelNames;
  if (sample.labels.length !== names.length) {
    throw new Error(
      `${family.name}: a sample has ${sample.labels.length} label values, expected ${names.length}`,
    );
  }
  if (names.length === 0) return `${family.name} ${formatValue(sample.value)}`;
  let line = `${family.name}{`;
  for (let i = 0; i < names.length; i++) {
    line += `${i === 0 ? "" : ","}${names[i]}="${escapeLabelValue(sample.labels[i]!)}"`;
  }
  return `${line}} ${formatValue(sample.value)}`;
}
