/**
 * Namespace types of `matchNamespaces` / `matchNamespaceChanges` (Tetragon matches them
 * case-insensitively).
 *
 * @module
 */

/** Canonical namespace type names. */
export const NAMESPACE_TYPES = [
  "Uts",
  "Ipc",
  "Mnt",
  "Pid",
  "PidForChildren",
  "Net",
  "Time",
  "TimeForChildren",
  "Cgroup",
  "User",
] as const;

/** A canonical namespace type. */
export type NamespaceType = typeof NAMESPACE_TYPES[number];

const BY_LOWER = new Map<string, NamespaceType>(NAMESPACE_TYPES.map((n) => [n.toLowerCase(), n]));

/**
 * Maps a namespace type as written (any case) to its canonical name; `undefined` when unknown.
 *
 * @example
 * ```ts
 * normaliseNamespaceType("mnt"); // "Mnt"
 * normaliseNamespaceType("Kube"); // undefined
 * ```
 */
export function normaliseNamespaceType(written: string): NamespaceType | undefined {
  return BY_LOWER.get(written.toLowerCase());
}
