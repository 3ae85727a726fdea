/**
 * Independent evidence about the kernel, gathered next to the probe loads: it never decides
 * whether a feature works (the load and attach do), it explains why one does not.
 *
 * @module
 */
import type { KernelConfig } from "./kconfig.ts";
import type { LsmFacts, ProbeMount } from "./types.ts";

/** The outcome of opening a file: opened, or the OS error (e.g. "EPERM (1)"). */
export type FileAccess = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** The facts a failed probe is explained with. Plain data, so reasons can be unit-tested. */
export interface ProbeEvidence {
  /** Build config, or null when the kernel exposes none. */
  readonly config: KernelConfig | null;
  /** Whether vigil holds CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN). */
  readonly privileged: boolean;
  /** `/sys/bus/event_source/devices/kprobe` exists (perf kprobe PMU, 4.17+). */
  readonly kprobePmu: boolean;
  /** The tracefs directory libbpf uses, null when none is mounted; and how it got there. */
  readonly tracefs: { readonly root: string | null; readonly mount: ProbeMount };
  /** `<tracefs>/kprobe_events` exists (legacy kprobe path); null without tracefs. */
  readonly kprobeEvents: boolean | null;
  /** `<tracefs>/events/syscalls/sys_enter_getppid` exists; null without tracefs. */
  readonly syscallTracepoint: boolean | null;
  /** Opening `<tracefs>/available_filter_functions` (ftrace function hooks); null without tracefs. */
  readonly ftraceFunctions: FileAccess | null;
  readonly lsm: LsmFacts;
  /** Whether `/proc/kallsyms` lists a symbol; null when it cannot be read. */
  kernelSymbol(name: string): boolean | null;
}

/** Where the kernel lists perf PMUs; `kprobe` appears there with CONFIG_KPROBE_EVENTS. */
export const KPROBE_PMU = "/sys/bus/event_source/devices/kprobe";
/** libbpf's first choice for tracefs (it exists only while debugfs is mounted). */
export const DEBUGFS_TRACING = "/sys/kernel/debug/tracing";

/** "EPERM (1)" from a Deno or Node error, or its message when it carries no code. */
export function osError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const num = /os error (\d+)/.exec(err.message)?.[1];
  if (typeof code === "string" && num !== undefined) return `${code} (${num})`;
  return typeof code === "string" ? code : err.message;
}

/** Opens (and closes) `path` without reading it. */
export function tryOpen(path: string): FileAccess {
  try {
    Deno.openSync(path).close();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: osError(err) };
  }
}

/** Whether `path` exists (any kind of file). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Facts under a tracefs root, or all null when there is none. */
export function readTracefsFacts(
  root: string | null,
): Pick<ProbeEvidence, "kprobeEvents" | "syscallTracepoint" | "ftraceFunctions"> {
  if (root === null) return { kprobeEvents: null, syscallTracepoint: null, ftraceFunctions: null };
  return {
    kprobeEvents: exists(`${root}/kprobe_events`),
    syscallTracepoint: exists(`${root}/events/syscalls/sys_enter_getppid`),
    ftraceFunctions: tryOpen(`${root}/available_filter_functions`),
  };
}

/**
 * A lazy `/proc/kallsyms` lookup: the file is large, so it is read on a question (once per name).
 *
 * @example
 * ```ts
 * const has = kallsymsLookup();
 * has("do_nanosleep"); // true on x86_64
 * ```
 */
export function kallsymsLookup(path = "/proc/kallsyms"): (name: string) => boolean | null {
  // Answers are memoized per name; the 5 MB text is searched, never kept or split into a set
  // (a set of every symbol cost ~40 MiB of RSS and ~0.2 s for a handful of lookups).
  const known = new Map<string, boolean | null>();
  return (name) => {
    let found = known.get(name);
    if (found === undefined) {
      try {
        const text = Deno.readTextFileSync(path);
        found = text.includes(` ${name}\n`) || text.includes(` ${name}\t`);
      } catch {
        found = null;
      }
      known.set(name, found);
    }
    return found;
  };
}
