/**
 * Collects the planner's errors and warnings as {@link PolicyIssue}s, so they print like the
 * parser's (`file:line:column: path: message`).
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import type { PolicyIssue, SourceRef } from "../spec/mod.ts";

/** Errors and warnings of one hook (or of the policy as a whole). */
export class IssueSink {
  readonly errors: PolicyIssue[] = [];
  readonly warnings: PolicyIssue[] = [];

  constructor(readonly file: string) {}

  /** Records an error at `at`. */
  error(at: SourceRef, message: string): void {
    this.errors.push({ file: this.file, ...at, message });
  }

  /** Records a warning at `at`. */
  warn(at: SourceRef, message: string): void {
    this.warnings.push({ file: this.file, ...at, message });
  }
}
