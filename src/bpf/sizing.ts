/**
 * Map and cache sizes chosen for the host at start, so a small VM does not pay for a 64-core
 * node: the ring buffer grows with the CPUs that produce into it, the per-process tables with the
 * processes the host runs. Each size stays a flag away (`--ring-buffer-size`,
 * `--process-cache-size`). Kernel memory per entry is stated in the README's requirements.
 *
 * @module
 */
import { STRUCTS } from "./abi.gen.ts";

const MiB = 1024 * 1024;

/** Ring buffer bytes per online CPU before rounding (records are small; user space drains fast). */
export const RING_BYTES_PER_CPU: number = 2 * MiB;
/** Ring buffer size bounds (a power of two, as the kernel requires). */
export const RING_MIN_BYTES: number = 4 * MiB;
export const RING_MAX_BYTES: number = 32 * MiB;

/** Headroom over the processes alive at start (forks between two exits, bursts). */
export const PROCESS_HEADROOM = 8;
/** Per-process table bounds: the exec maps in the kernel and the process cache in user space. */
export const PROCESS_MIN_ENTRIES = 8192;
export const PROCESS_MAX_ENTRIES = 65536;

/** Smallest power of two ≥ n (n ≥ 1). */
export function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/** The default ring buffer size for `cpus` online CPUs. */
export function defaultRingBytes(cpus: number): number {
  return Math.min(
    RING_MAX_BYTES,
    Math.max(RING_MIN_BYTES, nextPowerOfTwo(cpus * RING_BYTES_PER_CPU)),
  );
}

/**
 * The default size of the per-process tables for a host with `live` processes now and the
 * kernel's `pidMax`: eight times what runs now, at least 8192, at most 65536 and never above
 * pid_max (no more processes than pids can exist at once).
 */
export function defaultProcessEntries(live: number, pidMax: number): number {
  const wanted = Math.max(PROCESS_MIN_ENTRIES, nextPowerOfTwo(live * PROCESS_HEADROOM));
  return Math.max(1024, Math.min(PROCESS_MAX_ENTRIES, wanted, nextPowerOfTwo(pidMax)));
}

/** Processes alive now and pid_max, read from /proc (fallbacks: the bounds). */
export function hostProcesses(): { live: number; pidMax: number } {
  let live = 0;
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      const c = entry.name.charCodeAt(0);
      if (c >= 48 && c <= 57) live++;
    }
  } catch {
    live = PROCESS_MAX_ENTRIES / PROCESS_HEADROOM;
  }
  let pidMax = PROCESS_MAX_ENTRIES;
  try {
    pidMax = Number(Deno.readTextFileSync("/proc/sys/kernel/pid_max").trim()) || pidMax;
  } catch { /* keep the bound */ }
  return { live, pidMax };
}

/**
 * Entries of the policy engine's rate-limit table (LRU, preallocated, ~128 bytes each): one per
 * (hook, rate-limited key) seen recently; an evicted key only starts a new rate-limit window.
 */
export const POLICY_RATE_LIMIT_ENTRIES = 8192;

/** Kernel bookkeeping per element of a non-preallocated hash or trie (struct htab_elem et al.). */
const ELEMENT_OVERHEAD_BYTES = 48;

/** Set entries of one policy, by set kind. */
export interface SetEntryCounts {
  readonly str: number;
  readonly lpm: number;
  readonly int: number;
}

/**
 * Kernel memory one policy adds (estimate): its set entries, each a key, a one-byte value
 * (8 with alignment) and the element header. Its hook slots and per-CPU counters belong to the
 * policy engine's preallocated maps, paid once by the first policy (README, "Memory to budget").
 */
export function policySetBytes(sets: SetEntryCounts): number {
  const per = (keySize: number) => keySize + 8 + ELEMENT_OVERHEAD_BYTES;
  return sets.str * per(STRUCTS.vigil_str_key.size) + sets.lpm * per(STRUCTS.vigil_lpm_key.size) +
    sets.int * per(STRUCTS.vigil_int_key.size);
}
