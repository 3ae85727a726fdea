/**
 * Tetragon's policy limits (for kernels ≥ 5.3, the "large programs" variant), which vigil enforces
 * at parse time so a policy that loads in one loads in the other.
 *
 * @module
 */

/** Every limit the parser enforces, by name. */
export const POLICY_LIMITS = {
  /** Selectors per hook. */
  selectorsPerHook: 5,
  /** `matchArgs` + `matchData` entries per selector (also `matchReturnArgs`). */
  argFiltersPerSelector: 5,
  /** Values per Equal/NotEqual entry on an integer arg, and per Mask/GT/LT/InRange entry. */
  valuesPerIntegerEntry: 4,
  /** Bytes of one Prefix/NotPrefix value. */
  prefixMaxBytes: 256,
  /** Bytes of one Postfix/NotPostfix value. */
  postfixMaxBytes: 127,
  /** Bytes of one SubString value (must be under 100). */
  substringMaxBytes: 99,
  /** Actions per selector (`matchActions`, and `matchReturnActions`). */
  actionsPerSelector: 3,
  /** `matchBinaries` entries per selector. */
  matchBinariesPerSelector: 1,
  /** Bytes of one `matchBinaries` path. */
  binaryPathMaxBytes: 255,
  /** `matchBinaries` entries with `followChildren` per policy. */
  followChildrenPerPolicy: 64,
  /** Values per `matchPIDs` entry. */
  pidsPerEntry: 4,
  /** Values per `matchNamespaces` entry. */
  namespaceValuesPerEntry: 4,
  /** `matchNamespaces` entries per selector. */
  namespaceEntriesPerSelector: 10,
  /** `matchNamespaceChanges` entries per selector. */
  namespaceChangesPerSelector: 1,
  /** `args` + `data` entries per hook. */
  argsPerHook: 5,
  /** Highest function-argument index a kprobe/LSM/uprobe arg can read. */
  maxFunctionArgIndex: 4,
  /** Highest `sizeArgIndex` (1-based). */
  maxSizeArgIndex: 5,
  /** Bytes of `message` (longer ones are truncated with a warning). */
  messageMaxBytes: 256,
  /** Minimum bytes of a non-empty `message`. */
  messageMinBytes: 2,
  /** Tags per hook. */
  tagsPerHook: 16,
  /** Minimum bytes of a tag. */
  tagMinBytes: 2,
  /** Bytes of a tag (longer ones are truncated with a warning). */
  tagMaxBytes: 128,
  /** `spec.enforcers` entries. */
  enforcersPerPolicy: 1,
  /** Highest signal number for `Signal`'s `argSig`. */
  maxSignal: 64,
} as const;
