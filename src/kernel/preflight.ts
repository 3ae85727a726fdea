/**
 * What must hold before any probe can run: the kernel's BTF and BPF privileges. Each failure is
 * one line telling the operator what to change.
 *
 * @module
 */
import { readBtfFacts, VMLINUX_BTF } from "./host.ts";

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/**
 * Whether an effective capability set may load and attach tracing programs: CAP_BPF with
 * CAP_PERFMON (5.8+), or CAP_SYS_ADMIN (which older kernels require).
 *
 * @example
 * ```ts
 * hasBpfPrivileges(1n << 21n); // true
 * ```
 */
export function hasBpfPrivileges(capEff: bigint): boolean {
  const has = (cap: bigint) => (capEff >> cap & 1n) === 1n;
  return has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
}

/** The effective capability set of this process (`CapEff` in /proc/self/status); null if unknown. */
export function readEffectiveCaps(status?: string): bigint | null {
  try {
    const text = status ?? Deno.readTextFileSync("/proc/self/status");
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(text)?.[1];
    return hex === undefined ? null : BigInt(`0x${hex}`);
  } catch {
    return null;
  }
}

/** Whether this process holds BPF privileges (false when they cannot be read). */
export function isPrivileged(): boolean {
  const caps = readEffectiveCaps();
  return caps !== null && hasBpfPrivileges(caps);
}

/** Why probing is impossible here (one line), or null when it can run. */
export function probeBlocker(): string | null {
  const btf = readBtfFacts();
  if (!btf.present) {
    return `kernel has no BTF at ${VMLINUX_BTF}; vigil needs CONFIG_DEBUG_INFO_BTF=y`;
  }
  if (!isPrivileged()) {
    return "needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run vigil as root";
  }
  if (!btf.readable) return `cannot read ${VMLINUX_BTF}: ${btf.error ?? "unknown error"}`;
  return null;
}
