/**
 * Probes whether privileged real-kernel tests can run here, so they are ignored LOUDLY (with the
 * probe's reason in the test name) instead of passing silently.
 *
 * @module
 */

function probe(): string | null {
  if (Deno.uid() !== 0) return "not root: BPF tests need CAP_BPF and CAP_PERFMON (run as root)";
  try {
    Deno.statSync("/sys/kernel/btf/vmlinux");
  } catch {
    return "kernel has no BTF at /sys/kernel/btf/vmlinux";
  }
  return null;
}

/** Why privileged tests cannot run here, or null when they can. */
export const PRIVILEGED_SKIP_REASON: string | null = probe();

/** Test options for a privileged test: ignored with the reason in its name when it cannot run. */
export function privileged(name: string): { name: string; ignore: boolean } {
  if (PRIVILEGED_SKIP_REASON === null) return { name, ignore: false };
  return { name: `${name} [IGNORED: ${PRIVILEGED_SKIP_REASON}]`, ignore: true };
}
