/**
 * The running kernel's build configuration, from `/proc/config.gz` (CONFIG_IKCONFIG_PROC) or
 * `/boot/config-<release>`. Used only to explain a failed probe, never to decide one: the load
 * and attach results are the truth, the config says why.
 *
 * @module
 */
import { readGzipFile } from "../ffi/gzip_file.ts";

/** A kernel config is ~300 KB; more is not one. */
const MAX_CONFIG_BYTES = 8 << 20;

/** A parsed kernel config. */
export interface KernelConfig {
  /** Where it was read from. */
  readonly source: string;
  /**
   * Whether `CONFIG_<name>` is built in or a module. Options Kconfig left out (unmet
   * dependencies) count as not set, as the kernel itself sees them.
   */
  enabled(name: string): boolean;
}

/**
 * Parses config text (`CONFIG_X=y`, `CONFIG_X=m`, `CONFIG_X="str"`, `# CONFIG_X is not set`).
 *
 * @example
 * ```ts
 * parseKernelConfig("CONFIG_BPF=y\n# CONFIG_KPROBES is not set\n", "test").enabled("KPROBES"); // false
 * ```
 */
export function parseKernelConfig(text: string, source: string): KernelConfig {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2]);
  }
  return {
    source,
    enabled: (name) => {
      const value = values.get(name.replace(/^CONFIG_/, ""));
      return value === "y" || value === "m";
    },
  };
}

/** Reads the running kernel's config; null when the kernel does not expose one. */
export function readKernelConfig(release: string = Deno.osRelease()): KernelConfig | null {
  try {
    const text = new TextDecoder().decode(readGzipFile("/proc/config.gz", MAX_CONFIG_BYTES));
    return parseKernelConfig(text, "/proc/config.gz");
  } catch {
    // Not built with CONFIG_IKCONFIG_PROC (or not readable): try the distribution's copy.
  }
  const boot = `/boot/config-${release}`;
  try {
    return parseKernelConfig(Deno.readTextFileSync(boot), boot);
  } catch {
    return null;
  }
}
