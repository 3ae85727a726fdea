/**
 * Parses one TracingPolicy file: YAML syntax, the envelope (`apiVersion`, `kind`, `metadata`) and
 * `spec`, strictly and with Tetragon's limits. Every issue names the file, line, column and YAML
 * path; the policy is returned only when there is no error.
 *
 * @module
 */

import { type Document, isScalar, type LineCounter } from "yaml";
import {
  type Policy,
  POLICY_API_VERSION,
  type PolicyIssue,
  type PolicyKind,
  type PolicySpec,
  type SourceRef,
} from "./types.ts";
import { decodeSpec } from "./read_spec.ts";
import { type Fields, Reader, type Val } from "./yaml_reader.ts";
import { boundIssues } from "./bound_issues.ts";
import { readYaml } from "./yaml_read.ts";

/** What {@link parsePolicy} found. */
export interface ParseResult {
  /** The validated policy; present only when `errors` is empty. */
  readonly policy?: Policy;
  readonly errors: readonly PolicyIssue[];
  readonly warnings: readonly PolicyIssue[];
}

const ROOT_SHAPE = {
  fields: ["apiVersion", "kind", "metadata", "spec"],
  unsupported: { status: "status is set by Kubernetes, not written in a policy file" },
} as const;

/** ObjectMeta fields Kubernetes may put in an exported object; accepted and ignored. */
const IGNORED_METADATA = [
  "generateName",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "ownerReferences",
  "finalizers",
  "managedFields",
  "selfLink",
];

const METADATA_SHAPE = {
  fields: ["name", "namespace", "labels", "annotations", ...IGNORED_METADATA],
} as const;

const DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS_SUBDOMAIN = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*$`);
const DNS_LABEL_RE = new RegExp(`^${DNS_LABEL}$`);

function dnsHint(name: string): string {
  const fixed = name.toLowerCase().replace(/[^a-z0-9.-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "");
  return fixed !== "" && fixed !== name && DNS_SUBDOMAIN.test(fixed)
    ? ` (try ${JSON.stringify(fixed)})`
    : "";
}

function isEmptyDocument(doc: Document): boolean {
  const c = doc.contents;
  return c === null || (isScalar(c) && c.value === null);
}

function syntaxIssues(file: string, lines: LineCounter, doc: Document): PolicyIssue[] {
  return doc.errors.map((e) => {
    const { line, col } = lines.linePos(e.pos[0]);
    return {
      file,
      line,
      column: col,
      path: "",
      message: `YAML syntax error: ${e.message.split("\n")[0]}`,
    };
  });
}

function byPosition(a: PolicyIssue, b: PolicyIssue): number {
  return a.line - b.line || a.column - b.column;
}

interface Envelope {
  readonly kind?: PolicyKind;
  readonly name?: string;
  readonly nameAt?: SourceRef;
  readonly namespace?: string;
  readonly labels: Record<string, string>;
}

function decodeMetadata(
  r: Reader,
  metaVal: Val | undefined,
  at: Fields,
  kind: PolicyKind | undefined,
): Envelope {
  const labels: Record<string, string> = {};
  if (metaVal === undefined || metaVal.node === null) {
    const message = `missing required field "metadata" (with a name)`;
    if (metaVal === undefined) r.missing(at, "metadata", message);
    else r.error(metaVal, message);
    return { labels };
  }
  const meta = r.map(metaVal, METADATA_SHAPE);
  if (meta === undefined) return { labels };
  let name = r.requiredString(meta, "name");
  if (name !== undefined && (name.length > 253 || !DNS_SUBDOMAIN.test(name))) {
    r.error(
      meta.get("name") ?? meta.at,
      `${JSON.stringify(name)} is not a valid DNS subdomain: lower-case letters, digits, '-' and ` +
        `'.', starting and ending with a letter or digit, at most 253 characters${dnsHint(name)}`,
    );
    name = undefined;
  }
  let namespace: string | undefined;
  const ns = r.string(meta.get("namespace"));
  if (ns !== undefined && ns !== "") {
    if (kind === "TracingPolicy") {
      r.warn(
        meta.key("namespace") ?? meta.at,
        "metadata.namespace is ignored: TracingPolicy is cluster-scoped",
      );
    } else if (ns.length > 63 || !DNS_LABEL_RE.test(ns)) {
      r.error(meta.get("namespace") ?? meta.at, `${JSON.stringify(ns)} is not a valid DNS label`);
    } else {
      namespace = ns;
    }
  } else if (kind === "TracingPolicyNamespaced") {
    r.error(
      meta.get("namespace") ?? meta.missing("namespace"),
      "a TracingPolicyNamespaced needs metadata.namespace (the pods it applies to)",
    );
  }
  r.stringMap(meta.get("annotations"));
  return {
    ...(name === undefined ? {} : { name, nameAt: r.ref(meta.get("name") ?? meta.at) }),
    ...(namespace === undefined ? {} : { namespace }),
    labels: r.stringMap(meta.get("labels")),
  };
}

function decodePolicy(r: Reader, file: string): Policy | undefined {
  const f = r.map(r.root(), ROOT_SHAPE);
  if (f === undefined) return undefined;
  const apiVersion = r.requiredString(f, "apiVersion");
  if (apiVersion !== undefined && apiVersion !== POLICY_API_VERSION) {
    r.error(
      f.get("apiVersion") ?? f.at,
      `unsupported apiVersion ${JSON.stringify(apiVersion)} (expected ${POLICY_API_VERSION})`,
    );
  }
  const kindText = r.requiredString(f, "kind");
  let kind: PolicyKind | undefined;
  if (kindText === "TracingPolicy" || kindText === "TracingPolicyNamespaced") {
    kind = kindText;
  } else if (kindText !== undefined) {
    r.error(
      f.get("kind") ?? f.at,
      `unsupported kind ${JSON.stringify(kindText)} (expected TracingPolicy or ` +
        `TracingPolicyNamespaced)`,
    );
  }
  const meta = decodeMetadata(r, f.get("metadata"), f, kind);
  const specVal = f.get("spec");
  let spec: PolicySpec | undefined;
  if (specVal === undefined || specVal.node === null) {
    if (specVal === undefined) r.missing(f, "spec");
    else r.error(specVal, `"spec" must not be empty`);
  } else {
    spec = decodeSpec(r, specVal, kind ?? "TracingPolicy");
  }
  if (
    r.errors.length > 0 || kind === undefined || spec === undefined || meta.name === undefined ||
    meta.nameAt === undefined
  ) {
    return undefined;
  }
  return {
    apiVersion: POLICY_API_VERSION,
    kind,
    name: meta.name,
    nameAt: meta.nameAt,
    ...(meta.namespace === undefined ? {} : { namespace: meta.namespace }),
    labels: meta.labels,
    file,
    spec,
  };
}

/**
 * Parses and validates one policy file (one YAML document). `file` is only used to label issues
 * and as `Policy.file`. Issues come sorted by position; `policy` is set only without errors.
 *
 * @example
 * ```ts
 * const text = Deno.readTextFileSync("policies/file_deletion.yaml");
 * const { policy, errors, warnings } = parsePolicy(text, "policies/file_deletion.yaml");
 * // errors: [] ; policy?.spec.kprobes[0]?.targets[0]?.syscall?.nr === 263
 * ```
 */
export function parsePolicy(text: string, file: string): ParseResult {
  const { errors, warnings, policy } = parseUnbounded(text, file);
  const bounded = {
    errors: boundIssues(errors, "error"),
    warnings: boundIssues(warnings, "warning"),
  };
  return policy === undefined ? bounded : { policy, ...bounded };
}

function parseUnbounded(text: string, file: string): ParseResult {
  // Refused before composing when too big, too deep or too large (see yaml_read.ts).
  const read = readYaml(text, file);
  if (!("docs" in read)) return { errors: read.errors, warnings: [] };
  const { lines, docs: all } = read;
  const nonEmpty = all.filter((d) => !isEmptyDocument(d) || d.errors.length > 0);
  const first = nonEmpty[0];
  if (first === undefined) {
    const message = "no YAML document: expected one TracingPolicy";
    return { errors: [{ file, line: 1, column: 1, path: "", message }], warnings: [] };
  }
  const syntax = all.flatMap((d) => syntaxIssues(file, lines, d));
  if (syntax.length > 0) return { errors: syntax.sort(byPosition), warnings: [] };
  if (read.errors.length > 0) return { errors: [...read.errors].sort(byPosition), warnings: [] };

  const r = new Reader(file, lines, first, read.aliases);
  for (const w of first.warnings) {
    r.warn({ path: "", offset: w.pos[0] }, `YAML: ${w.message.split("\n")[0]}`);
  }
  const second = nonEmpty[1];
  if (second !== undefined) {
    r.error(
      { path: "", offset: second.range[0] },
      `${nonEmpty.length} YAML documents in one file: vigil reads one policy per file; put each ` +
        `policy in its own file`,
    );
  }
  const policy = decodePolicy(r, file);
  const errors = [...r.errors].sort(byPosition);
  const warnings = [...r.warnings].sort(byPosition);
  return policy === undefined || errors.length > 0
    ? { errors, warnings }
    : { policy, errors, warnings };
}
