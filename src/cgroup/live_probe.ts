/**
 * The {@link HostProbe} backed by the running system: `stat(2)` through `node:fs` (bigint inode
 * numbers), namespace inodes under `/proc`, and BTF for the controller numbering.
 *
 * Finding the host's view: PID 1 is tried first, then PID 2 when it is `kthreadd` (kernel threads
 * always live in the initial namespaces). PID 2 matters on hosts whose init cannot be inspected
 * (an LSM or a non-dumpable init makes `/proc/1/ns/*` and `/proc/1/root` unreadable even for root).
 *
 * @module
 */
import { statIds } from "./stat_ids.ts";
import { cgroupSubsysIdsFromBtf } from "./btf_subsys.ts";
import { parseMountinfo } from "./mountinfo.ts";
import {
  type DirStat,
  type HostProbe,
  type HostView,
  INITIAL_CGROUP_NS_INO,
  INITIAL_PID_NS_INO,
  type NamespaceFacts,
  type Probed,
} from "./probe.ts";

/** Options for {@link liveProbe}. */
export interface LiveProbeOptions {
  /** procfs to read; default `/proc`. */
  proc?: string;
  /** Whether to offer the host view through `/proc/<pid>/root`; default true. */
  hostView?: boolean;
  /** BTF file; default `/sys/kernel/btf/vmlinux`. */
  btf?: string;
}

/** A short reason from a thrown error (`EACCES: permission denied, stat '/proc/1/root'`). */
export function errorReason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function nsInode(path: string): bigint {
  return statIds(path).ino;
}

/**
 * Creates the live probe. Answers that cost a syscall walk (host view, BTF) are computed once.
 *
 * @example
 * ```ts
 * const decision = decideHierarchy(input, liveProbe());
 * ```
 */
export function liveProbe(options: LiveProbeOptions = {}): HostProbe {
  const proc = options.proc ?? "/proc";
  let view: Probed<HostView> | undefined;
  let ids: Probed<ReadonlyMap<string, number>> | undefined;
  return {
    live: true,
    statDir(path: string): Probed<DirStat> {
      try {
        const s = statIds(path);
        if (!s.isDirectory) return { status: "error", reason: "not a directory" };
        return { status: "ok", value: { ino: s.ino, dev: s.dev } };
      } catch (err) {
        return { status: "error", reason: errorReason(err) };
      }
    },
    cgroupNamespace: () => cgroupNamespace(proc),
    hostView() {
      if (options.hostView === false) {
        return (view ??= { status: "skipped", reason: "host view disabled by the caller" });
      }
      return (view ??= findHostView(proc));
    },
    subsysIds() {
      return (ids ??= readSubsysIds(options.btf ?? "/sys/kernel/btf/vmlinux"));
    },
  };
}

function cgroupNamespace(proc: string): Probed<NamespaceFacts> {
  let self: bigint;
  try {
    self = nsInode(`${proc}/self/ns/cgroup`);
  } catch (err) {
    return { status: "error", reason: errorReason(err) };
  }
  if (self === INITIAL_CGROUP_NS_INO) {
    return {
      status: "ok",
      value: { kind: "host", detail: `cgroup:[${self}] is the initial cgroup namespace` },
    };
  }
  // Not the initial namespace. It still counts as the host's when PID 1 of the initial PID
  // namespace shares it (a host that itself runs in a cgroup namespace, e.g. a nested VM-like
  // sandbox); the inode check still has to prove each mount.
  let init: string;
  try {
    const pid1Cgroup = nsInode(`${proc}/1/ns/cgroup`);
    const pid1Pid = nsInode(`${proc}/1/ns/pid`);
    if (pid1Cgroup === self && pid1Pid === INITIAL_PID_NS_INO) {
      return {
        status: "ok",
        value: {
          kind: "host",
          detail: `cgroup:[${self}] is shared with PID 1 of the initial PID namespace`,
        },
      };
    }
    init = `/proc/1 is in cgroup:[${pid1Cgroup}]${
      pid1Pid === INITIAL_PID_NS_INO ? "" : " and not in the initial PID namespace"
    }`;
  } catch (err) {
    init = `/proc/1 unreadable: ${errorReason(err)}`;
  }
  return {
    status: "ok",
    value: {
      kind: "private",
      detail: `cgroup:[${self}], the initial one is cgroup:[${INITIAL_CGROUP_NS_INO}]; ${init}`,
    },
  };
}

function findHostView(proc: string): Probed<HostView> {
  const rejected: string[] = [];
  for (const pid of [1, 2]) {
    const base = `${proc}/${pid}`;
    try {
      if (pid === 2 && Deno.readTextFileSync(`${base}/comm`).trim() !== "kthreadd") {
        rejected.push(`${base} is not kthreadd`);
        continue;
      }
      if (nsInode(`${base}/ns/pid`) !== INITIAL_PID_NS_INO) {
        rejected.push(`${base} is not in the initial PID namespace`);
        continue;
      }
      if (nsInode(`${base}/ns/cgroup`) !== INITIAL_CGROUP_NS_INO) {
        rejected.push(`${base} is not in the initial cgroup namespace`);
        continue;
      }
      Deno.statSync(`${base}/root/`);
      const mounts = parseMountinfo(Deno.readTextFileSync(`${base}/mountinfo`));
      const why = rejected.length ? `; ${rejected.join("; ")}` : "";
      return {
        status: "ok",
        value: {
          pid,
          prefix: `${base}/root`,
          cgroupNsPath: `${base}/ns/cgroup`,
          mounts,
          detail: `PID ${pid} is in the initial PID and cgroup namespaces${why}`,
        },
      };
    } catch (err) {
      rejected.push(`${base}: ${errorReason(err)}`);
    }
  }
  return { status: "error", reason: `no host-namespace process visible (${rejected.join("; ")})` };
}

function readSubsysIds(path: string): Probed<ReadonlyMap<string, number>> {
  try {
    return { status: "ok", value: cgroupSubsysIdsFromBtf(Deno.readFileSync(path)) };
  } catch (err) {
    return { status: "error", reason: `cannot read ${path}: ${errorReason(err)}` };
  }
}
