/**
 * Loads every policy file (`*.yaml`, `*.yml`) of a directory, each independently: a file that
 * cannot be read or parsed gets its own errors and never stops the others.
 *
 * @module
 */

import { join } from "node:path";
import type { PolicyIssue } from "./types.ts";
import { POLICY_SET_LIMITS } from "./input_limits.ts";
import type { ParseResult } from "./parse.ts";
import { parsePolicyLazily } from "./parse_lazy.ts";
import { readPolicyFile } from "./read_file.ts";

/** How {@link loadPolicyDir} reads and parses. */
export interface LoadDirOptions {
  /** Parses one text (default: `parsePolicy` on this thread). */
  readonly parse?: (text: string, file: string) => ParseResult | Promise<ParseResult>;
  /** Files read at most (by name order); the rest are each an error. */
  readonly maxFiles?: number;
}

/** The outcome for one file of the directory. */
export interface PolicyFileResult extends ParseResult {
  /** Path of the file (the directory joined with its name). */
  readonly file: string;
  /** The file's text; absent when it could not be read. */
  readonly text?: string;
}

function isPolicyFileName(name: string): boolean {
  return name.endsWith(".yaml") || name.endsWith(".yml");
}

function fileIssue(file: string, message: string): PolicyIssue {
  return { file, line: 1, column: 1, path: "", message };
}

/** A directory entry the loader takes: a `*.yaml`/`*.yml` file (or a link to one). */
function isPolicyEntry(entry: Deno.DirEntry): boolean {
  return isPolicyFileName(entry.name) && (entry.isFile || entry.isSymlink);
}

/**
 * Whether `dir` (null: none) has a policy file to load: a cheap look before start-up commits to
 * loading the policy engine. An unreadable directory answers false (loading it reports why).
 */
export async function hasPolicyFiles(dir: string | null): Promise<boolean> {
  if (dir === null) return false;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (isPolicyEntry(entry)) return true;
    }
  } catch {
    return false;
  }
  return false;
}

/**
 * Parses every `*.yaml`/`*.yml` file directly in `dir` (not in subdirectories), in name order.
 * A second policy with a name already used by an earlier file is an error on the later file.
 * Throws only when the directory itself cannot be read.
 *
 * @example
 * ```ts
 * for (const r of await loadPolicyDir("policies")) {
 *   console.log(r.file, r.policy ? "ok" : `${r.errors.length} errors`);
 * }
 * ```
 */
export async function loadPolicyDir(
  dir: string,
  options: LoadDirOptions = {},
): Promise<PolicyFileResult[]> {
  const parse = options.parse ?? parsePolicyLazily;
  const maxFiles = options.maxFiles ?? POLICY_SET_LIMITS.maxPolicies;
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (isPolicyEntry(entry)) names.push(entry.name);
    }
  } catch (err) {
    throw new Error(
      `read policy directory ${dir}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  names.sort();
  const results: PolicyFileResult[] = [];
  const owners = new Map<string, string>();
  for (const [i, name] of names.entries()) {
    const file = join(dir, name);
    if (i >= maxFiles) {
      const message = `not loaded: the directory has more than ${maxFiles} policy files ` +
        `(vigil's limit)`;
      results.push({ file, errors: [fileIssue(file, message)], warnings: [] });
      continue;
    }
    try {
      const info = await Deno.stat(file);
      if (!info.isFile) continue;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      results.push({
        file,
        errors: [fileIssue(file, `cannot read the file: ${why}`)],
        warnings: [],
      });
      continue;
    }
    const read = await readPolicyFile(file);
    if ("error" in read) {
      results.push({ file, errors: [fileIssue(file, read.error)], warnings: [] });
      continue;
    }
    const text = read.text;
    let parsed: ParseResult;
    try {
      parsed = await parse(text, file);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      parsed = { errors: [fileIssue(file, `cannot parse: ${why}`)], warnings: [] };
    }
    const policy = parsed.policy;
    const owner = policy === undefined ? undefined : owners.get(policy.name);
    if (policy !== undefined && owner !== undefined) {
      results.push({
        file,
        errors: [{
          file,
          ...policy.nameAt,
          message: `policy name ${JSON.stringify(policy.name)} is already used by ${owner}`,
        }],
        warnings: parsed.warnings,
        text,
      });
      continue;
    }
    if (policy !== undefined) owners.set(policy.name, file);
    results.push({ file, text, ...parsed });
  }
  return results;
}
