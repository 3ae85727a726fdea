/**
 * Bounded YAML reading for policy texts. The `yaml` package composes recursively, compares every
 * key of a mapping with every other one (`uniqueKeys`), keeps ~1 KB per node and resolves an
 * alias by walking the whole document, so a small hostile text could exhaust the stack, the heap
 * or the event loop. Here the text is lexed and parsed token by token and abandoned as soon as it
 * nests too deep or has too many nodes; only then is it composed (without `uniqueKeys`), and one
 * linear walk checks duplicate keys, keys per mapping, aliases (unknown, cyclic, count) and the
 * size of the document with every alias expanded, and resolves each alias once for the reader.
 *
 * Every refusal is one issue with file, line and column; nothing here recurses over the input.
 *
 * @module
 */

import {
  type Alias,
  Composer,
  CST,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  Parser,
} from "yaml";
import { POLICY_INPUT_LIMITS } from "./input_limits.ts";
import type { PolicyIssue } from "./types.ts";

/** The limits {@link readYaml} enforces (defaults: {@link POLICY_INPUT_LIMITS}). */
export interface YamlLimits {
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxNodes: number;
  readonly maxExpandedNodes: number;
  readonly maxAliases: number;
  readonly maxKeysPerMapping: number;
}

/** A text read within the limits: its documents and how to resolve their aliases. */
export interface YamlRead {
  readonly lines: LineCounter;
  readonly docs: readonly Document.Parsed[];
  /** Every alias of every document, resolved to the node it names. */
  readonly aliases: ReadonlyMap<Alias, Node>;
  /** Problems found by the structural walk (duplicate keys, bad aliases); empty when fine. */
  readonly errors: readonly PolicyIssue[];
}

/** A text refused before composing (too big, too deep, too many nodes). */
export interface YamlRefused {
  readonly errors: readonly PolicyIssue[];
}

/** Lexemes that each start a node: scalars, aliases, flow collections, sequence entries. */
const NODE_TOKENS: ReadonlySet<string> = new Set([
  "scalar",
  "single-quoted-scalar",
  "double-quoted-scalar",
  "block-scalar-header",
  "alias",
  "flow-map-start",
  "flow-seq-start",
  "seq-item-ind",
]);

const YAML_OPTIONS = {
  prettyErrors: false,
  // Checked here in linear time: the library's check compares each key with all earlier ones.
  uniqueKeys: false,
  intAsBigInt: true,
} as const;

function issue(file: string, lines: LineCounter, offset: number, message: string): PolicyIssue {
  const { line, col } = lines.linePos(offset);
  return { file, line, column: col, path: "", message };
}

function quote(text: string, max = 40): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/**
 * Lexes and parses `text` into CST documents, stopping at the first limit it exceeds. The parser
 * keeps one stack entry per open collection, so its stack height is the nesting depth.
 */
function parseBounded(
  text: string,
  file: string,
  lines: LineCounter,
  limits: YamlLimits,
): { tokens: CST.Token[] } | YamlRefused {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  const tokens: CST.Token[] = [];
  let nodes = 0;
  let scalarSourceNext = false;
  // The stack holds the stream's document (and at times one scalar) besides the collections.
  const maxStack = limits.maxDepth + 2;
  for (const lexeme of new Lexer().lex(text)) {
    if (scalarSourceNext) {
      scalarSourceNext = false;
    } else {
      const type = CST.tokenType(lexeme);
      if (type === "scalar") scalarSourceNext = true;
      if (type !== null && NODE_TOKENS.has(type) && ++nodes > limits.maxNodes) {
        const message = `more than ${limits.maxNodes} YAML nodes (vigil's limit for one policy)`;
        return { errors: [issue(file, lines, parser.offset, message)] };
      }
    }
    for (const token of parser.next(lexeme)) tokens.push(token);
    if (parser.stack.length > maxStack) {
      const message = `YAML nested more than ${limits.maxDepth} levels deep (vigil's limit)`;
      return { errors: [issue(file, lines, parser.offset, message)] };
    }
  }
  for (const token of parser.end()) tokens.push(token);
  return { tokens };
}

/** What the structural walk keeps per document. */
class TreeCheck {
  readonly aliases = new Map<Alias, Node>();
  readonly errors: PolicyIssue[] = [];
  #aliasCount = 0;
  readonly #file: string;
  readonly #lines: LineCounter;
  readonly #limits: YamlLimits;

  constructor(file: string, lines: LineCounter, limits: YamlLimits) {
    this.#file = file;
    this.#lines = lines;
    this.#limits = limits;
  }

  #error(node: unknown, fallback: number, message: string): void {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    this.errors.push(issue(this.#file, this.#lines, range?.[0] ?? fallback, message));
  }

  /**
   * Walks one document in document order (so an alias sees exactly the anchors defined before
   * it), with an explicit stack. Each node's size with aliases expanded is known once its
   * subtree is done; an alias adds the size of its (finished) target. Stops at the first limit.
   */
  walk(doc: Document.Parsed): void {
    const limits = this.#limits;
    const anchors = new Map<string, Node>();
    const size = new Map<Node, number>();
    const open = new Set<Node>();
    let expanded = 0;
    type Frame = { node: Node; exit: boolean; parentOffset: number };
    const stack: Frame[] = [];
    const push = (node: unknown, parentOffset: number) => {
      if (node !== null && node !== undefined) {
        stack.push({ node: node as Node, exit: false, parentOffset });
      }
    };
    push(doc.contents, 0);
    while (stack.length > 0) {
      const frame = stack.pop()!;
      const node = frame.node;
      if (frame.exit) {
        open.delete(node);
        let total = 1;
        const children = isMap(node)
          ? node.items.flatMap((p) => [p.key, p.value])
          : isSeq(node)
          ? node.items
          : [];
        for (const child of children) {
          if (child === null || child === undefined) continue;
          const target = isAlias(child) ? this.aliases.get(child) : child as Node;
          total += target === undefined ? 1 : size.get(target) ?? 1;
        }
        size.set(node, total);
        continue;
      }
      const offset = node.range?.[0] ?? frame.parentOffset;
      if (isAlias(node)) {
        if (++this.#aliasCount > limits.maxAliases) {
          this.#error(node, offset, `more than ${limits.maxAliases} YAML aliases (vigil's limit)`);
          return;
        }
        const target = anchors.get(node.source);
        if (target === undefined) {
          this.#error(
            node,
            offset,
            `alias *${node.source} has no anchor &${node.source} before it`,
          );
          continue;
        }
        if (open.has(target)) {
          this.#error(node, offset, `alias *${node.source} refers to a node that contains it`);
          return;
        }
        this.aliases.set(node, target);
        expanded += size.get(target) ?? 1;
      } else {
        expanded += 1;
        if (node.anchor) anchors.set(node.anchor, node);
      }
      if (expanded > limits.maxExpandedNodes) {
        this.#error(
          node,
          offset,
          `the document expands to more than ${limits.maxExpandedNodes} YAML nodes ` +
            `with its aliases (vigil's limit)`,
        );
        return;
      }
      if (isAlias(node) || (!isMap(node) && !isSeq(node))) continue;
      open.add(node);
      stack.push({ node, exit: true, parentOffset: offset });
      if (isSeq(node)) {
        for (let i = node.items.length - 1; i >= 0; i--) push(node.items[i], offset);
        continue;
      }
      if (node.items.length > limits.maxKeysPerMapping) {
        const extra = node.items[limits.maxKeysPerMapping];
        this.#error(
          extra?.key,
          offset,
          `a mapping with ${node.items.length} keys (vigil's limit is ${limits.maxKeysPerMapping})`,
        );
        return;
      }
      this.#duplicates(node.items, offset);
      for (let i = node.items.length - 1; i >= 0; i--) {
        const pair = node.items[i]!;
        push(pair.value, offset);
        push(pair.key, offset);
      }
    }
  }

  #duplicates(pairs: readonly { key: unknown }[], offset: number): void {
    const seen = new Set<string>();
    for (const { key } of pairs) {
      if (!isScalar(key)) continue;
      const name = typeof key.value === "string" ? key.value : String(key.value);
      if (seen.has(name)) {
        this.#error(key, offset, `duplicate key ${quote(name)}: keys of a mapping must be unique`);
      }
      seen.add(name);
    }
  }
}

/**
 * Reads `text` as a YAML stream within `limits`: either refused with one located issue, or its
 * documents (syntax errors are in each document's `errors`, as the `yaml` package reports them)
 * with their aliases resolved and structural problems in `errors`.
 *
 * @example
 * ```ts
 * const read = readYaml("a: &x [1]\nb: *x\n", "f.yaml");
 * // "docs" in read && read.errors.length === 0
 * ```
 */
export function readYaml(
  text: string,
  file: string,
  limits: YamlLimits = POLICY_INPUT_LIMITS,
): YamlRead | YamlRefused {
  const lines = new LineCounter();
  if (text.length > limits.maxBytes) {
    lines.addNewLine(0);
    const message = `the policy is ${text.length} characters; vigil's limit is ${limits.maxBytes}`;
    return { errors: [issue(file, lines, 0, message)] };
  }
  const parsed = parseBounded(text, file, lines, limits);
  if (!("tokens" in parsed)) return parsed;
  const composer = new Composer(YAML_OPTIONS);
  const docs: Document.Parsed[] = [];
  for (const token of parsed.tokens) docs.push(...composer.next(token));
  docs.push(...composer.end());
  const check = new TreeCheck(file, lines, limits);
  for (const doc of docs) {
    if (doc.errors.length > 0) continue;
    check.walk(doc);
    if (check.errors.length > 0) break;
  }
  return { lines, docs, aliases: check.aliases, errors: check.errors };
}
