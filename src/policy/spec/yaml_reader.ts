/**
 * Strict, located reading of a YAML document: typed accessors over the `yaml` package's node tree
 * that record an issue (file, line, column, YAML path, message) for every unknown field, wrong
 * type or missing value, and return `undefined` so decoding can go on and report everything.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
} from "yaml";
import type { PolicyIssue, SourceRef } from "./types.ts";

/** A YAML value with its path and the source offset issues about it point at. */
export interface Val {
  /** The node (aliases followed); `null` when the value is absent or YAML null. */
  readonly node: Node | null;
  /** YAML path, e.g. `spec.kprobes[0].call`. */
  readonly path: string;
  /** Character offset of the value (or of its key, when the value is empty). */
  readonly offset: number;
}

/** Something an issue can point at. */
export interface Located {
  readonly path: string;
  readonly offset: number;
}

/** A string read from a list, with where it was. */
export interface LocatedString {
  readonly value: string;
  readonly at: Val;
}

/** How a mapping may look: the fields it may have, and known fields vigil refuses (with why). */
export interface MapShape {
  readonly fields: readonly string[];
  readonly unsupported?: Readonly<Record<string, string>>;
  /** Valid Tetragon fields vigil cannot run: the policy stays valid, "not runnable" (reason). */
  readonly notRunnable?: Readonly<Record<string, string>>;
}

/** Appends `.name` (or `name` at the root) to a path. */
export function childPath(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function describe(node: Node | null): string {
  if (node === null) return "null";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "null";
    if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
    if (typeof v === "boolean") return `the boolean ${v}`;
    if (typeof v === "number" || typeof v === "bigint") {
      return `the number ${node.source ?? String(v)}`;
    }
  }
  return "an unsupported YAML value";
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] ?? 0;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] ?? 0;
}

/** The closest of `candidates` to `word`: same but for case, extends it, or edit distance ≤ 2. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = 3;
  for (const c of candidates) {
    const w = word.toLowerCase();
    const l = c.toLowerCase();
    // Edit distance is at least the length difference: skip the quadratic work when it is > 2.
    const score = l === w
      ? 0
      : w.length >= 3 && l.startsWith(w)
      ? 1
      : Math.abs(w.length - l.length) > 2
      ? 3
      : editDistance(w, l);
    if (score < bestScore) [best, bestScore] = [c, score];
  }
  return best;
}

/** The fields of one mapping, by name. */
export class Fields {
  /** The mapping itself. */
  readonly at: Val;
  readonly #entries: Map<string, { key: Val; value: Val }>;
  readonly #misspelled: ReadonlySet<string>;

  constructor(
    at: Val,
    entries: Map<string, { key: Val; value: Val }>,
    misspelled: ReadonlySet<string> = new Set(),
  ) {
    this.at = at;
    this.#entries = entries;
    this.#misspelled = misspelled;
  }

  /** Whether an unknown key was reported as a likely misspelling of `name`. */
  misspelled(name: string): boolean {
    return this.#misspelled.has(name);
  }

  /** The value of `name`, or `undefined` when the key is absent. */
  get(name: string): Val | undefined {
    return this.#entries.get(name)?.value;
  }

  /** The key node of `name` (for issues about the field itself), if present. */
  key(name: string): Val | undefined {
    return this.#entries.get(name)?.key;
  }

  /** Whether `name` is present with a non-null value. */
  has(name: string): boolean {
    return (this.#entries.get(name)?.value.node ?? null) !== null;
  }

  /** Where to report that `name` is missing: the mapping, with the field's path. */
  missing(name: string): Located {
    return { path: childPath(this.at.path, name), offset: this.at.offset };
  }
}

/** Reads one YAML document strictly and collects issues. */
export class Reader {
  readonly errors: PolicyIssue[] = [];
  readonly warnings: PolicyIssue[] = [];
  /** Valid Tetragon that vigil cannot run: the policy is valid, and not runnable for these. */
  readonly notRunnable: PolicyIssue[] = [];
  readonly #file: string;
  readonly #lines: LineCounter;
  readonly #doc: Document;
  readonly #aliases: ReadonlyMap<Alias, Node>;

  /** `aliases`: each alias resolved once (yaml_read.ts); `Alias.resolve` walks the document. */
  constructor(file: string, lines: LineCounter, doc: Document, aliases: ReadonlyMap<Alias, Node>) {
    this.#file = file;
    this.#lines = lines;
    this.#doc = doc;
    this.#aliases = aliases;
  }

  /** The source position of `at`. */
  ref(at: Located): SourceRef {
    const { line, col } = this.#lines.linePos(at.offset);
    return { path: at.path, line, column: col };
  }

  /** Records an error at `at`. */
  error(at: Located, message: string): void {
    this.errors.push({ file: this.#file, ...this.ref(at), message });
  }

  /** Records a warning at `at`. */
  warn(at: Located, message: string): void {
    this.warnings.push({ file: this.#file, ...this.ref(at), message });
  }

  /** Records valid Tetragon at `at` that vigil cannot run (the plan reports it, not the parse). */
  unrunnable(at: Located, message: string): void {
    this.notRunnable.push({ file: this.#file, ...this.ref(at), message });
  }

  #resolve(node: unknown): Node | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.#resolve(this.#aliases.get(node) ?? null);
    if (isScalar(node) && node.value === null) return null;
    return node as Node;
  }

  /** Wraps a raw node as a {@link Val}. */
  val(node: unknown, path: string, fallbackOffset: number): Val {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    const resolved = this.#resolve(node);
    const empty = resolved === null && isScalar(node) && (node.source ?? "") === "";
    return {
      node: resolved,
      path,
      offset: range !== undefined && !empty ? range[0] : fallbackOffset,
    };
  }

  /** The document root. */
  root(): Val {
    return this.val(this.#doc.contents, "", 0);
  }

  /**
   * Reads a mapping, reporting unknown fields (with a suggestion) and refused ones. A null value
   * reads as an empty mapping; anything else that is not a mapping is an error (`undefined`).
   */
  map(v: Val, shape: MapShape): Fields | undefined {
    const entries = new Map<string, { key: Val; value: Val }>();
    const misspelled = new Set<string>();
    if (v.node === null) return new Fields(v, entries);
    if (!isMap(v.node)) {
      this.error(v, `expected a mapping, got ${describe(v.node)}`);
      return undefined;
    }
    for (const pair of v.node.items) {
      const keyNode = this.#resolve(pair.key);
      const keyOffset = (pair.key as { range?: [number, number, number] } | null)?.range?.[0] ??
        v.offset;
      if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
        this.error(
          { path: v.path, offset: keyOffset },
          `field names must be strings, got ${describe(keyNode)}`,
        );
        continue;
      }
      const name = keyNode.value;
      const path = childPath(v.path, name);
      const key: Val = { node: keyNode, path, offset: keyOffset };
      if (!shape.fields.includes(name)) {
        const refused = shape.unsupported?.[name];
        const unrunnable = shape.notRunnable?.[name];
        if (unrunnable !== undefined) {
          this.unrunnable(key, unrunnable);
        } else if (refused !== undefined) {
          this.error(key, refused);
        } else {
          const hint = suggest(name, shape.fields);
          if (hint !== undefined) misspelled.add(hint);
          this.error(
            key,
            `unknown field ${JSON.stringify(name)}` +
              (hint === undefined ? "" : ` (did you mean ${JSON.stringify(hint)}?)`),
          );
        }
        continue;
      }
      entries.set(name, { key, value: this.val(pair.value, path, keyOffset) });
    }
    return new Fields(v, entries, misspelled);
  }

  /** Reports that required field `name` of `f` is missing, unless a misspelling was reported. */
  missing(
    f: Fields,
    name: string,
    message = `missing required field ${JSON.stringify(name)}`,
  ): void {
    if (!f.misspelled(name)) this.error(f.missing(name), message);
  }

  /** Reads a list; null reads as empty; anything else is an error (empty result). */
  seq(v: Val | undefined): Val[] {
    if (v === undefined || v.node === null) return [];
    if (!isSeq(v.node)) {
      this.error(v, `expected a list, got ${describe(v.node)}`);
      return [];
    }
    return v.node.items.map((item, i) => this.val(item, `${v.path}[${i}]`, v.offset));
  }

  /** Reads a string; `undefined` when absent/null or not a string (an error). */
  string(v: Val | undefined): string | undefined {
    if (v === undefined || v.node === null) return undefined;
    if (isScalar(v.node) && typeof v.node.value === "string") return v.node.value;
    if (
      isScalar(v.node) &&
      (typeof v.node.value === "number" || typeof v.node.value === "bigint" ||
        typeof v.node.value === "boolean")
    ) {
      // Tetragon decodes YAML through JSON into its Go types, and a number or boolean bound for a
      // string field becomes its text (`values: [2]` is "2"): take the scalar as written.
      return v.node.source ?? String(v.node.value);
    }
    this.error(v, `expected a string, got ${describe(v.node)}`);
    return undefined;
  }

  /** Reads a required, non-empty string field. */
  requiredString(f: Fields, name: string): string | undefined {
    const v = f.get(name);
    if (v === undefined) {
      this.missing(f, name);
      return undefined;
    }
    if (v.node === null) {
      this.error(v, `${JSON.stringify(name)} must not be empty`);
      return undefined;
    }
    const s = this.string(v);
    if (s === "") this.error(v, `${JSON.stringify(name)} must not be empty`);
    return s === "" ? undefined : s;
  }

  /** Reads a boolean (`true`/`false` only, as Kubernetes' JSON decoding). */
  bool(v: Val | undefined): boolean | undefined {
    if (v === undefined || v.node === null) return undefined;
    if (isScalar(v.node) && typeof v.node.value === "boolean") return v.node.value;
    this.error(v, `expected true or false, got ${describe(v.node)}`);
    return undefined;
  }

  /** Reads an integer within `[min, max]` as a bigint. */
  bigint(v: Val | undefined, min: bigint, max: bigint): bigint | undefined {
    if (v === undefined || v.node === null) return undefined;
    const raw = isScalar(v.node) ? v.node.value : undefined;
    let n: bigint | undefined;
    if (typeof raw === "bigint") n = raw;
    else if (typeof raw === "number" && Number.isInteger(raw)) n = BigInt(raw);
    if (n === undefined) {
      const hint = typeof raw === "string" && /^-?\d+$/.test(raw) ? " (remove the quotes)" : "";
      this.error(v, `expected an integer, got ${describe(v.node)}${hint}`);
      return undefined;
    }
    if (n < min || n > max) {
      this.error(v, `${n} is out of range (${min}..${max})`);
      return undefined;
    }
    return n;
  }

  /** Reads an integer within `[min, max]` (both safe integers). */
  integer(v: Val | undefined, min: number, max: number): number | undefined {
    const n = this.bigint(v, BigInt(min), BigInt(max));
    return n === undefined ? undefined : Number(n);
  }

  /** Reads a mapping of strings to strings (labels, annotations); bad entries are reported. */
  stringMap(v: Val | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    if (v === undefined || v.node === null) return out;
    if (!isMap(v.node)) {
      this.error(v, `expected a mapping of strings to strings, got ${describe(v.node)}`);
      return out;
    }
    for (const pair of v.node.items) {
      const keyNode = this.#resolve(pair.key);
      const keyOffset = (pair.key as { range?: [number, number, number] } | null)?.range?.[0] ??
        v.offset;
      if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
        this.error(
          { path: v.path, offset: keyOffset },
          `keys must be strings, got ${describe(keyNode)}`,
        );
        continue;
      }
      const value = this.string(this.val(pair.value, childPath(v.path, keyNode.value), keyOffset));
      if (value !== undefined) out[keyNode.value] = value;
    }
    return out;
  }

  /** Reads a list of strings, keeping each one's location; bad items are reported and skipped. */
  strings(v: Val | undefined): LocatedString[] {
    return this.stringItems(this.seq(v));
  }

  /** Reads list items (from {@link Reader.seq}) as strings; bad items are reported and skipped. */
  stringItems(items: readonly Val[]): LocatedString[] {
    const out: LocatedString[] = [];
    for (const item of items) {
      if (item.node === null) {
        this.error(item, "expected a string, got null");
        continue;
      }
      const s = this.string(item);
      if (s !== undefined) out.push({ value: s, at: item });
    }
    return out;
  }
}
