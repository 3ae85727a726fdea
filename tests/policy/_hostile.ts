/**
 * Hostile policy texts of issue 14, generated (shared by the policy, API end-to-end and CLI tests
 * and by bench/hostile_policy.ts): deep nesting, alias expansion, a mapping of many unknown keys,
 * huge echoed strings.
 *
 * @module
 */

/** The envelope every generated policy starts with (`spec:` is line 5). */
const HEAD = [
  "apiVersion: cilium.io/v1alpha1",
  "kind: TracingPolicy",
  "metadata:",
  "  name: NAME",
  "spec:",
];

function head(name: string): string {
  return HEAD.join("\n").replace("NAME", name) + "\n";
}

/**
 * A sequence nested `levels` deep under `tags:` (`- - - … x`), as in issue 14: the nesting starts
 * on line 10, column 9.
 */
export function deepTags(levels = 3000, name = "deep"): string {
  return head(name) +
    "  kprobes:\n    - call: sys_connect\n      syscall: true\n      tags:\n" +
    "        " + "- ".repeat(levels) + "x\n";
}

/** Flow sequences nested `levels` deep (`[[[…]]]`) as a tag. */
export function deepFlow(levels = 100_000, name = "deep-flow"): string {
  return head(name) + "  kprobes:\n    - call: sys_connect\n      syscall: true\n      tags:\n" +
    "        - " + "[".repeat(levels) + "]".repeat(levels) + "\n";
}

/**
 * A hook anchored once and aliased `hooks - 1` more times, each with selectors and values that
 * are aliases too: a few KB that the reader used to expand into thousands of hooks.
 */
export function aliasBomb(hooks = 900, name = "alias-bomb"): string {
  return head(name) + `  kprobes:
  - &h
    call: sys_openat
    syscall: true
    args:
    - index: 1
      type: string
    selectors:
    - &s
      matchArgs:
      - &m
        index: 1
        operator: Prefix
        values: &v [/etc/a, /etc/b, /etc/c, /etc/d, /etc/e, /etc/f, /etc/g, /etc/h]
      - *m
      - *m
      - *m
      - *m
    - *s
    - *s
    - *s
    - *s
` + "  - *h\n".repeat(hooks - 1);
}

/** `keys` unknown keys in the `spec` mapping (line 6 on). */
export function manyKeys(keys = 20_000, name = "many-keys"): string {
  let text = head(name);
  for (let i = 0; i < keys; i++) text += `  k${i}: 1\n`;
  return text;
}

/**
 * A `metadata.name` of `chars` characters of `"` (near the 1 MiB body limit): a naive answer quotes
 * it back several times, each `"` escaped twice.
 */
export function hugeName(chars = 1024 * 1024 - 200, name = "huge-name"): string {
  return head(name).replace(`name: ${name}`, `name: '${'"'.repeat(chars)}'`) + "  kprobes: []\n";
}

/** `count` distinct unknown fields with long names: many long errors. */
export function manyLongErrors(count = 999, chars = 1000, name = "long-errors"): string {
  let text = head(name);
  for (let i = 0; i < count; i++) text += `  ${"x".repeat(chars)}${i}: 1\n`;
  return text;
}

/** A valid policy whose one hook uses anchors and aliases the ordinary way. */
export function friendlyAliases(name = "friendly"): string {
  return head(name) + `  kprobes:
  - call: sys_openat
    syscall: true
    args:
    - index: 1
      type: string
      label: &label pathname
    selectors:
    - matchArgs:
      - index: 1
        operator: Prefix
        values: &etc ["/etc/shadow", "/etc/sudoers"]
    - matchArgs:
      - index: 1
        operator: Prefix
        values: *etc
  - call: sys_unlinkat
    syscall: true
    args:
    - index: 1
      type: string
      label: *label
`;
}

/** Every hostile text of issue 14, by name (for the end-to-end and CLI tests). */
export function hostileTexts(): Record<string, string> {
  return {
    deep: deepTags(),
    "deep-flow": deepFlow(),
    "alias-bomb": aliasBomb(),
    "many-keys": manyKeys(),
    "huge-name": hugeName(),
    "long-errors": manyLongErrors(),
  };
}
