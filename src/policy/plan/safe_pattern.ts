/**
 * A guard for user-written regular expressions that the planner runs on the main thread over tens
 * of thousands of kernel function names (`generated_ftrace` patterns). JavaScript regexes
 * backtrack, so a pattern such as `(a+)+$` can take exponential time on one short name and freeze
 * the event loop. Patterns are refused when they are long, use back-references, or repeat without
 * bound a group that itself repeats without bound or has alternatives (star height above one, the
 * classic shape of catastrophic backtracking).
 *
 * @module
 */

/** Longest accepted pattern, in characters. */
export const MAX_PATTERN_LENGTH = 256;

/** Why `pattern` may backtrack without bound, or undefined when it is safe to run. */
export function unsafePatternReason(pattern: string): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return `pattern is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`;
  }
  // Per open group: has it an unbounded repeat or an alternative inside?
  const groups: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\") {
      if (!inClass && /[1-9k]/.test(pattern[i + 1] ?? "")) {
        return `back-references (\\${pattern[i + 1]}) are not allowed in patterns`;
      }
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") inClass = true;
    else if (c === "(") groups.push(false);
    else if (c === "|" && groups.length > 0) groups[groups.length - 1] = true;
    else if (c === ")") {
      const risky = groups.pop() ?? false;
      const unbounded = unboundedRepeatAt(pattern, i + 1);
      if (risky && unbounded) {
        return `a group with a repeat or alternatives inside is repeated without bound ` +
          `(near column ${i + 1}): such patterns can backtrack for ever`;
      }
      if (groups.length > 0 && (risky || unbounded)) groups[groups.length - 1] = true;
    } else if (unboundedRepeatAt(pattern, i) && groups.length > 0) {
      groups[groups.length - 1] = true;
    }
  }
  return undefined;
}

/** Does an unbounded quantifier (`*`, `+`, `{n,}`) start at `at`? */
function unboundedRepeatAt(pattern: string, at: number): boolean {
  const c = pattern[at];
  if (c === "*" || c === "+") return true;
  return c === "{" && /^\{\d*,\}/.test(pattern.slice(at, at + 12));
}
