/**
 * Helpers for the policy tests: build small policy texts and pick out issues.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parsePolicy, type ParseResult } from "../../src/policy/spec/parse.ts";
import type { Policy, PolicyIssue } from "../../src/policy/spec/mod.ts";

/** The envelope every inline policy starts with; `spec:` is line 5, spec content starts on 6. */
export const ENVELOPE = [
  "apiVersion: cilium.io/v1alpha1",
  "kind: TracingPolicy",
  "metadata:",
  "  name: test",
  "spec:",
];

/** Joins lines into a policy text (with a trailing newline). */
export function lines(...text: string[]): string {
  return text.join("\n") + "\n";
}

/** A policy whose `spec:` body is `specLines` (already indented by two spaces). */
export function withSpec(...specLines: string[]): string {
  return lines(...ENVELOPE, ...specLines);
}

/** Parses `text` as `test.yaml`. */
export function parse(text: string): ParseResult {
  return parsePolicy(text, "test.yaml");
}

/** Parses `text`, asserting it is valid without warnings, and returns the policy. */
export function parseValid(text: string): Policy {
  const result = parse(text);
  assert.deepEqual(result.errors, [], "expected no errors");
  assert.deepEqual(result.warnings, [], "expected no warnings");
  assert.ok(result.policy);
  return result.policy;
}

/** Parses `text`, asserting exactly one error, and returns it. */
export function onlyError(text: string): PolicyIssue {
  const result = parse(text);
  assert.equal(
    result.errors.length,
    1,
    `expected one error, got:\n${
      result.errors.map((e) => `${e.line}:${e.column} ${e.path}: ${e.message}`).join("\n")
    }`,
  );
  assert.equal(result.policy, undefined);
  const [error] = result.errors;
  assert.ok(error);
  return error;
}

/** A kprobe on sys_openat reading a string path (index 1) and int flags (index 2). */
export const OPENAT_HEAD = [
  "  kprobes:",
  "  - call: sys_openat",
  "    syscall: true",
  "    args:",
  "    - index: 1",
  "      type: string",
  "    - index: 2",
  "      type: int",
];
