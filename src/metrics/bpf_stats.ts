/**
 * Per-program BPF statistics (run count, run time) from the kernel, for `vigil top` and the
 * `vigil_bpf_program_*` metrics.
 *
 * The kernel counts only while statistics are on. `bpf_enable_stats(BPF_STATS_RUN_TIME)` turns
 * them on for as long as the returned fd stays open (and off again when the last holder closes
 * it), so a crashed agent cannot leave the whole host paying for the accounting; the
 * `kernel.bpf_stats_enabled` sysctl is the global alternative an operator may have set. Counting
 * costs two clock reads per program run; `--no-bpf-stats` skips it.
 *
 * Values come from `bpf_obj_get_info_by_fd` (struct bpf_prog_info, offsets below from the kernel
 * UAPI as pinned in `bpf/include/vmlinux/x86/vmlinux.h`; `tests/metrics/bpf_stats_test.ts` checks
 * them against the running kernel's BTF).
 *
 * @module
 */
import type { Libbpf } from "../ffi/libbpf.ts";
import { errnoName, type Libc } from "../ffi/libc.ts";
import type { Logger } from "../log/logger.ts";

/** Kernel statistics of one BPF program. */
export interface ProgramStat {
  /** Kernel program id. */
  readonly id: number;
  readonly name: string;
  /** The policy it belongs to; absent for the agent's own programs. */
  readonly policy?: string;
  /** Times the program ran (counted only while BPF statistics are on). */
  readonly runCount: bigint;
  /** Total time spent in the program, in nanoseconds, over all CPUs. */
  readonly runTimeNs: bigint;
  /** Runs the kernel skipped because the program was already running on that CPU. */
  readonly recursionMisses?: bigint;
}

/** Source of per-program BPF statistics (`vigil top`, the `vigil_bpf_program_*` metrics). */
export interface ProgramStats {
  list(): ProgramStat[];
  /** Whether the kernel is counting (`bpf_enable_stats` held or `kernel.bpf_stats_enabled=1`). */
  readonly enabled?: boolean;
}

/** `enum bpf_stats_type`: BPF_STATS_RUN_TIME. */
export const BPF_STATS_RUN_TIME = 0;

/** Offsets in `struct bpf_prog_info` (UAPI; fields are only ever appended). */
export const PROG_INFO = {
  size: 232,
  id: 4,
  name: 64,
  nameLength: 16,
  runTimeNs: 192,
  runCount: 200,
  recursionMisses: 208,
} as const;

const STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled";

/** A program to report: an fd the caller owns, with names the caller knows. */
export interface ProgramRef {
  readonly fd: number;
  /** Full name (the kernel keeps only 15 characters); default: the kernel's name. */
  readonly name?: string;
  readonly policy?: string;
}

/** What `bpf_obj_get_info_by_fd` says about one program. */
export interface ProgramInfo {
  readonly id: number;
  /** The kernel's (possibly truncated) name. */
  readonly name: string;
  readonly runCount: bigint;
  readonly runTimeNs: bigint;
  readonly recursionMisses: bigint;
}

/**
 * Reads run count and time of the program behind `fd`. Throws with the errno name on failure.
 *
 * @example
 * ```ts
 * const info = readProgramInfo(rt.libbpf, object.programFd("vigil_exec"));
 * ```
 */
export function readProgramInfo(libbpf: Libbpf, fd: number): ProgramInfo {
  const info = new Uint8Array(PROG_INFO.size);
  const length = new Uint32Array([PROG_INFO.size]);
  const rc = libbpf.bpf_obj_get_info_by_fd(fd, info, new Uint8Array(length.buffer));
  if (rc !== 0) throw new Error(`bpf_obj_get_info_by_fd(${fd}): ${errnoName(rc)}`);
  const view = new DataView(info.buffer);
  const nameBytes = info.subarray(PROG_INFO.name, PROG_INFO.name + PROG_INFO.nameLength);
  const end = nameBytes.indexOf(0);
  return {
    id: view.getUint32(PROG_INFO.id, true),
    name: new TextDecoder().decode(end === -1 ? nameBytes : nameBytes.subarray(0, end)),
    runCount: view.getBigUint64(PROG_INFO.runCount, true),
    runTimeNs: view.getBigUint64(PROG_INFO.runTimeNs, true),
    recursionMisses: view.getBigUint64(PROG_INFO.recursionMisses, true),
  };
}

/**
 * Every BPF program loaded on the host (like `bpftool prog`), each read through a short-lived fd.
 * Programs that vanish while walking are skipped.
 */
export function listAllPrograms(libbpf: Libbpf, libc: Libc): ProgramStat[] {
  const out: ProgramStat[] = [];
  const next = new Uint32Array(1);
  const nextBytes = new Uint8Array(next.buffer);
  let id = 0;
  while (libbpf.bpf_prog_get_next_id(id, nextBytes) === 0) {
    id = next[0]!;
    const fd = libbpf.bpf_prog_get_fd_by_id(id);
    if (fd < 0) continue;
    try {
      out.push(readProgramInfo(libbpf, fd));
    } catch {
      // Unloaded between get_next_id and get_info: nothing to report.
    } finally {
      libc.close(fd);
    }
  }
  return out;
}

/** Options for {@link openBpfProgramStats}. */
export interface BpfProgramStatsOptions {
  readonly libbpf: Libbpf;
  readonly libc: Libc;
  /** The programs to report (the agent's own); default: every program on the host. */
  readonly programs?: () => Iterable<ProgramRef>;
  /** Hold `bpf_enable_stats` while open (default true; false for `--no-bpf-stats`). */
  readonly enable?: boolean;
  readonly logger?: Logger;
}

/** How run-time statistics are on: our fd, the global sysctl, or not at all. */
export type StatsSwitch = "fd" | "sysctl" | "off";

/** A {@link ProgramStats} that owns the statistics fd; close it on shutdown. */
export interface BpfProgramStats extends ProgramStats, Disposable {
  readonly enabled: boolean;
  /** What keeps statistics on right now. */
  readonly switch: StatsSwitch;
  close(): void;
}

function sysctlEnabled(): boolean {
  try {
    return Deno.readTextFileSync(STATS_SYSCTL).trim() === "1";
  } catch {
    return false;
  }
}

/**
 * Turns BPF run-time statistics on (unless `enable` is false) and reads per-program counters.
 *
 * @example
 * ```ts
 * const stats = openBpfProgramStats({
 *   libbpf: rt.libbpf,
 *   libc: rt.libc,
 *   programs: () => [{ fd: object.programFd("vigil_exec"), name: "vigil_exec" }],
 * });
 * stats.list(); // [{ id, name: "vigil_exec", runCount, runTimeNs }]
 * stats.close();
 * ```
 */
export function openBpfProgramStats(options: BpfProgramStatsOptions): BpfProgramStats {
  const { libbpf, libc, logger } = options;
  let statsFd = -1;
  if (options.enable ?? true) {
    const rc = libbpf.bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (rc >= 0) {
      statsFd = rc;
    } else {
      logger?.warn("bpf stats: cannot turn on run-time statistics", {
        error: `bpf_enable_stats: ${errnoName(rc)}`,
        sysctl_enabled: sysctlEnabled(),
      });
    }
  }

  function list(): ProgramStat[] {
    if (!options.programs) return listAllPrograms(libbpf, libc);
    const out: ProgramStat[] = [];
    for (const ref of options.programs()) {
      let info: ProgramInfo;
      try {
        info = readProgramInfo(libbpf, ref.fd);
      } catch (err) {
        logger?.debug("bpf stats: skipping program", { name: ref.name, error: String(err) });
        continue;
      }
      out.push({
        ...info,
        name: ref.name ?? info.name,
        ...(ref.policy === undefined ? {} : { policy: ref.policy }),
      });
    }
    return out;
  }

  function close(): void {
    if (statsFd < 0) return;
    libc.close(statsFd);
    statsFd = -1;
  }

  return {
    list,
    get switch(): StatsSwitch {
      if (statsFd >= 0) return "fd";
      return sysctlEnabled() ? "sysctl" : "off";
    },
    get enabled(): boolean {
      return statsFd >= 0 || sysctlEnabled();
    },
    close,
    [Symbol.dispose]: close,
  };
}
