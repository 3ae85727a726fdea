/**
 * Linux capability names (`CAP_*`, numbers from `linux/capability.h`) and the capability sets a
 * `matchCapabilities` entry can test.
 *
 * @module
 */

/** `CAP_*` names in capability-number order (index = number). */
export const CAPABILITY_NAMES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
] as const;

/** A `CAP_*` name. */
export type CapabilityName = typeof CAPABILITY_NAMES[number];

const NUMBERS = new Map<string, number>(CAPABILITY_NAMES.map((n, i) => [n, i]));

/**
 * Resolves a capability name (trimmed, any case, as Tetragon) to its canonical name and number.
 *
 * @example
 * ```ts
 * capabilityByName("cap_sys_admin"); // { name: "CAP_SYS_ADMIN", nr: 21 }
 * capabilityByName("CAP_FLY"); // undefined
 * ```
 */
export function capabilityByName(
  written: string,
): { name: CapabilityName; nr: number } | undefined {
  const name = written.trim().toUpperCase();
  const nr = NUMBERS.get(name);
  return nr === undefined ? undefined : { name: name as CapabilityName, nr };
}

/** The capability sets of a task that `matchCapabilities` can test. */
export type CapabilitySet = "Effective" | "Inheritable" | "Permitted";

/**
 * Maps a capability set name (any case, as Tetragon) to its canonical spelling.
 *
 * @example
 * ```ts
 * normaliseCapabilitySet("effective"); // "Effective"
 * ```
 */
export function normaliseCapabilitySet(written: string): CapabilitySet | undefined {
  switch (written.toLowerCase()) {
    case "effective":
      return "Effective";
    case "inheritable":
      return "Inheritable";
    case "permitted":
      return "Permitted";
  }
  return undefined;
}
