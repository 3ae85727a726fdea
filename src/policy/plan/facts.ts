/**
 * Gathers {@link PlanFacts} on the running machine: the kernel probe's answers, tracefs formats
 * and the host's namespace inodes (for `host_ns`). Each source is injectable, so only the callers
 * that want the live machine touch it.
 *
 * @module
 */

import type { KernelReport } from "../../kernel/types.ts";
import { NAMESPACE_TYPES } from "../vocab/mod.ts";
import type { EngineMechanism, PlanFacts } from "./types.ts";
import type { TracepointFormatLookup } from "./tracepoint_format.ts";
import type { NamespaceType } from "../spec/mod.ts";
import type { FtraceLookup, KernelSyscalls } from "./kernel_functions.ts";

/** `/proc/<pid>/ns/<file>` of each namespace type. */
const NS_FILES: Readonly<Record<NamespaceType, string>> = {
  Uts: "uts",
  Ipc: "ipc",
  Mnt: "mnt",
  Pid: "pid",
  PidForChildren: "pid_for_children",
  Net: "net",
  Time: "time",
  TimeForChildren: "time_for_children",
  Cgroup: "cgroup",
  User: "user",
};

/** The host's namespace inodes, and why some could not be read. */
export interface HostNamespaces {
  readonly inodes: Readonly<Partial<Record<NamespaceType, number>>>;
  /** One line per unreadable type; absent when all were read. */
  readonly error?: string;
}

/**
 * Reads the namespace inodes of pid 1 (the host's, when vigil runs in the host pid namespace)
 * from the `/proc/1/ns/*` links (`mnt:[4026531841]`). `readLink` is injectable.
 *
 * @example
 * ```ts
 * readHostNamespaces().inodes.Mnt; // 4026531841
 * ```
 */
export function readHostNamespaces(
  readLink: (path: string) => string = Deno.readLinkSync,
  proc = "/proc",
): HostNamespaces {
  const inodes: Partial<Record<NamespaceType, number>> = {};
  const errors: string[] = [];
  for (const type of NAMESPACE_TYPES) {
    const path = `${proc}/1/ns/${NS_FILES[type]}`;
    try {
      const m = /\[(\d+)\]$/.exec(readLink(path));
      if (m === null) errors.push(`${path}: not a namespace link`);
      else inodes[type] = Number(m[1]);
    } catch (err) {
      errors.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { inodes, ...(errors.length === 0 ? {} : { error: errors.join("; ") }) };
}

/** Options of {@link planFactsFrom}. */
export interface PlanFactsOptions {
  readonly tracepointFormat: TracepointFormatLookup;
  readonly hostNamespaces?: HostNamespaces;
  readonly engine?: readonly EngineMechanism[];
  readonly functionInBtf?: (name: string) => boolean;
  readonly kernelSyscalls?: KernelSyscalls;
  readonly ftrace?: FtraceLookup;
}

/**
 * Plan facts from a kernel report (`probeKernel`) and the other sources.
 *
 * @example
 * ```ts
 * const facts = planFactsFrom(report, { tracepointFormat: tracefsFormatLookup() });
 * ```
 */
export function planFactsFrom(
  report: Pick<KernelReport, "features">,
  options: PlanFactsOptions,
): PlanFacts {
  const ns = options.hostNamespaces;
  return {
    features: report.features,
    tracepointFormat: options.tracepointFormat,
    ...(options.engine === undefined ? {} : { engine: options.engine }),
    ...(options.functionInBtf === undefined ? {} : { functionInBtf: options.functionInBtf }),
    ...(options.kernelSyscalls === undefined ? {} : { kernelSyscalls: options.kernelSyscalls }),
    ...(options.ftrace === undefined ? {} : { ftrace: options.ftrace }),
    ...(ns === undefined ? {} : { hostNamespaces: ns.inodes }),
    ...(ns?.error === undefined ? {} : { hostNamespacesError: ns.error }),
  };
}
