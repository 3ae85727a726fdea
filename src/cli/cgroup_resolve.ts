/**
 * `vigil cgroup resolve`: runs the host-hierarchy decision and the container parser, live or on
 * captured files, and explains every candidate mount.
 *
 * @module
 */
import { type Command, parseFlags, printErr, printOut } from "./command.ts";
import { type ContainerIdentity, parseContainerPath } from "../cgroup/container.ts";
import { decideHierarchy, type HierarchyDecision } from "../cgroup/hierarchy.ts";
import { HierarchyNotFoundError, openHostHierarchy } from "../cgroup/host_hierarchy.ts";
import { CgroupInputError, readInputFile } from "../cgroup/input.ts";
import { parseMountinfo } from "../cgroup/mountinfo.ts";
import { offlineProbe } from "../cgroup/probe.ts";
import { parseProcCgroups } from "../cgroup/proc_cgroups.ts";
import { parseTaskCgroups, type TaskCgroup, taskCgroupFor } from "../cgroup/task_cgroup.ts";

const VERB = "cgroup resolve";

const USAGE =
  `Usage: vigil cgroup resolve [--mountinfo FILE] [--proc-cgroup FILE] [--cgroups FILE] [--json]

Decides which cgroup hierarchy vigil reads cgroup ids from and which container a process
belongs to, and explains the verdict on every cgroup mount.

Without files it inspects the running system (/proc/self/mountinfo, /proc/self/cgroup,
/proc/cgroups). If no mount qualifies it mounts the host hierarchy privately to prove it can,
and unmounts it before exiting (needs root).

With any file it runs offline on captured files: checks that need the live system (the
mountpoint's inode, the cgroup namespace, the host view) are reported as skipped, never
guessed. Files not given are treated as absent, not read from this machine.

Options:
  --mountinfo FILE    a captured /proc/<pid>/mountinfo
  --proc-cgroup FILE  a captured /proc/<pid>/cgroup (the process whose container is shown)
  --cgroups FILE      a captured /proc/cgroups
  --json              print one JSON object:
                      {"mode","root":{"mountpoint","fstype","controller"}|null,
                       "candidates":[{"mountpoint","root","fstype","accepted","reason"}],
                       "container":{"runtime","id","podUid","isRoot"}|null}
  -h, --help          show this help

Exit status: 0 decided; 1 a file is unreadable or malformed, or (live) no usable hierarchy;
2 usage error.`;

/** The JSON document printed by `--json`. */
export interface ResolveReport {
  /** `v2`, `v1` or `hybrid`. */
  mode: string;
  /** The hierarchy to read ids from; `controller` is null on v2. */
  root: { mountpoint: string; fstype: string; controller: string | null } | null;
  /** Every cgroup mount considered. */
  candidates: {
    mountpoint: string;
    root: string;
    fstype: string;
    accepted: boolean;
    reason: string;
  }[];
  /** The container of the `/proc/<pid>/cgroup` line of the chosen hierarchy, or null. */
  container: ContainerIdentity | null;
}

/** The `cgroup resolve` verb. */
export const cgroupResolveCommand: Command = {
  usage: USAGE,
  run(argv) {
    const { values } = parseFlags(VERB, argv, {
      mountinfo: { type: "string" },
      "proc-cgroup": { type: "string" },
      cgroups: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      printOut(USAGE);
      return Promise.resolve(0);
    }
    const files = {
      mountinfo: values.mountinfo,
      procCgroup: values["proc-cgroup"],
      cgroups: values.cgroups,
    };
    try {
      const offline = Object.values(files).some((f) => f !== undefined);
      const { decision, taskCgroups, status } = offline ? resolveOffline(files) : resolveLive();
      const report = toReport(decision, taskCgroups);
      printOut(
        values.json
          ? JSON.stringify(report)
          : humanReport(decision, report, offline, selectedLine(decision, taskCgroups)),
      );
      return Promise.resolve(status);
    } catch (err) {
      if (err instanceof CgroupInputError) {
        printErr(`vigil ${VERB}: ${err.message}`);
        return Promise.resolve(1);
      }
      throw err;
    }
  },
};

interface Resolved {
  decision: HierarchyDecision;
  taskCgroups: TaskCgroup[] | undefined;
  status: number;
}

function resolveOffline(
  files: { mountinfo?: string; procCgroup?: string; cgroups?: string },
): Resolved {
  const mounts = files.mountinfo ? readInputFile(files.mountinfo, parseMountinfo) : [];
  const subsystems = files.cgroups ? readInputFile(files.cgroups, parseProcCgroups) : undefined;
  const taskCgroups = files.procCgroup
    ? readInputFile(files.procCgroup, parseTaskCgroups)
    : undefined;
  const decision = decideHierarchy({ mounts, subsystems, taskCgroups }, offlineProbe());
  return { decision, taskCgroups, status: 0 };
}

function resolveLive(): Resolved {
  const taskCgroups = readInputFile("/proc/self/cgroup", parseTaskCgroups);
  try {
    const hierarchy = openHostHierarchy();
    hierarchy.close();
    return { decision: hierarchy.decision, taskCgroups, status: 0 };
  } catch (err) {
    if (err instanceof HierarchyNotFoundError) {
      err.decision.log.push(err.message);
      return { decision: err.decision, taskCgroups, status: 1 };
    }
    throw err;
  }
}

/** Builds the `--json` document from a decision and the process's cgroup lines. */
export function toReport(
  decision: HierarchyDecision,
  taskCgroups: readonly TaskCgroup[] | undefined,
): ResolveReport {
  const target = decision.target;
  const controller = target?.kind === "controller" ? target.controller : null;
  const line = selectedLine(decision, taskCgroups);
  const chosen = decision.chosen;
  return {
    mode: decision.mode,
    root: chosen ? { mountpoint: chosen.mountpoint, fstype: chosen.fstype, controller } : null,
    candidates: decision.candidates.map((c) => ({
      mountpoint: c.mountpoint,
      root: c.root,
      fstype: c.fstype,
      accepted: c.accepted,
      reason: c.reason,
    })),
    container: line ? parseContainerPath(line.path) : null,
  };
}

/** The process's cgroup line in the target hierarchy. */
function selectedLine(
  decision: HierarchyDecision,
  taskCgroups: readonly TaskCgroup[] | undefined,
): TaskCgroup | undefined {
  const target = decision.target;
  if (!target || !taskCgroups) return undefined;
  return taskCgroupFor(taskCgroups, target.kind === "controller" ? target.controller : undefined);
}

function humanReport(
  decision: HierarchyDecision,
  report: ResolveReport,
  offline: boolean,
  line: TaskCgroup | undefined,
): string {
  const out = [offline ? "offline: captured files; live checks are skipped" : "live system"];
  out.push(...decision.log);
  out.push("candidates:");
  for (const c of report.candidates) {
    const mark = c.accepted ? "ACCEPT" : c.reason.startsWith("ignored") ? "ignore" : "REJECT";
    out.push(`  ${mark}  ${c.mountpoint} (${c.fstype}, root ${c.root || "?"})`);
    out.push(`          ${c.reason}`);
  }
  if (report.candidates.length === 0) out.push("  (no cgroup mounts)");
  out.push(
    report.root
      ? `root: ${report.root.mountpoint} (${report.root.fstype}${
        report.root.controller ? `, controller ${report.root.controller}` : ""
      })`
      : "root: none",
  );
  const c = report.container;
  out.push(line ? `process cgroup: ${line.path}` : "process cgroup: unknown (no cgroup file line)");
  out.push(
    c
      ? `container: ${c.runtime}://${c.id}${c.podUid ? ` pod ${c.podUid}` : ""}${
        c.isRoot ? "" : " (from a sub-cgroup of the container)"
      }`
      : "container: none",
  );
  return out.join("\n");
}
