/**
 * The active LSM list and the lockdown mode, read from securityfs. A BPF LSM program loads and
 * attaches even when `bpf` is not an active LSM, but then it never runs: the list must be read,
 * and it lives on securityfs, which minimal hosts often leave unmounted.
 *
 * @module
 */
import type { Libc } from "../ffi/libc.ts";
import { osError } from "./evidence.ts";
import { SECURITYFS, withPseudoFs } from "./mounts.ts";
import type { LsmFacts, ProbeMount } from "./types.ts";

/** The active LSMs, comma-separated, in call order. */
export const LSM_LIST = `${SECURITYFS.target}/lsm`;
/** Lockdown mode: "none [integrity] confidentiality", the active one bracketed. */
export const LOCKDOWN = `${SECURITYFS.target}/lockdown`;

/**
 * Parses the lsm list and lockdown files (either may be missing: null).
 *
 * @example
 * ```ts
 * parseLsmFacts("lockdown,capability,bpf", "none [integrity] confidentiality");
 * // { active: ["lockdown", "capability", "bpf"], bpfListed: true, lockdown: "integrity" }
 * ```
 */
export function parseLsmFacts(list: string | null, lockdown: string | null): LsmFacts {
  const active = list === null ? null : list.trim().split(",").filter((name) => name !== "");
  return {
    active,
    bpfListed: active === null ? null : active.includes("bpf"),
    lockdown: lockdown === null ? null : /\[([a-z]+)\]/.exec(lockdown)?.[1] ?? null,
  };
}

/**
 * Reads the LSM facts, mounting securityfs for the read when it is absent (and unmounting it).
 * Returns the facts and what was done to the mount table.
 */
export function readLsmFacts(libc: Libc): { lsm: LsmFacts; mount: ProbeMount } {
  return withPseudoFs(libc, SECURITYFS, (mount) => {
    let list: string | null = null;
    let error: string | undefined;
    try {
      list = Deno.readTextFileSync(LSM_LIST);
    } catch (err) {
      error = mount.error ?? `cannot read ${LSM_LIST}: ${osError(err)}`;
    }
    let lockdown: string | null = null;
    try {
      lockdown = Deno.readTextFileSync(LOCKDOWN);
    } catch {
      // No lockdown LSM in this kernel: nothing to report.
    }
    const facts = parseLsmFacts(list, lockdown);
    return { lsm: error === undefined ? facts : { ...facts, error }, mount };
  });
}
