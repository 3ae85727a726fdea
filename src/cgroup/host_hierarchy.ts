/**
 * The live detector the agent calls at start: reads `/proc`, runs the hierarchy decision with the
 * live probe, and when no mounted hierarchy qualifies mounts the host's privately (entering the
 * host cgroup namespace first when needed) and verifies the result. The returned handle owns that
 * mount and removes it on `close()`.
 *
 * Mounting uses util-linux `mount`/`nsenter` in a child process: `setns(CLONE_NEWCGROUP)` in the
 * multi-threaded runtime would change only one thread's namespace and leave it changed.
 *
 * @module
 */
import { statIds } from "./stat_ids.ts";
import { type Logger, silentLogger } from "../log/logger.ts";
import {
  type Candidate,
  type CandidateCheck,
  decideHierarchy,
  type HierarchyDecision,
  type PrivateMountPlan,
  verdict,
} from "./hierarchy.ts";
import { readInputFile } from "./input.ts";
import { errorReason, liveProbe } from "./live_probe.ts";
import { parseMountinfo } from "./mountinfo.ts";
import { parseProcCgroups } from "./proc_cgroups.ts";
import type { BpfCgroupSelector } from "./target.ts";
import { parseTaskCgroups } from "./task_cgroup.ts";

/** Options for {@link openHostHierarchy}. */
export interface HostHierarchyOptions {
  /** Where the decision is logged (every candidate and the verdict); default silent. */
  logger?: Logger;
  /** procfs to read; default `/proc`. */
  proc?: string;
  /**
   * How to use a host-namespace process (`/proc/1`, else `/proc/2` = kthreadd): `use` (default)
   * walks the hierarchy through its `/proc/<pid>/root`; `enter-only` only enters its cgroup
   * namespace to mount privately; `off` ignores it.
   */
  hostView?: "use" | "enter-only" | "off";
  /** Parent directory for a private mount; default the system temp dir. */
  tmpDir?: string;
}

/** The chosen host hierarchy. Close it to release a private mount. */
export interface HostHierarchy extends Disposable {
  /** Directory to walk for the hierarchy (an existing mount, host view or private mount). */
  readonly mountpoint: string;
  /** What BPF must read ids from. */
  readonly selector: BpfCgroupSelector;
  /** The full decision, including the private-mount candidate when one was made. */
  readonly decision: HierarchyDecision;
  /** True when `mountpoint` is a private mount that `close()` removes. */
  readonly ownsMount: boolean;
  /** Unmounts and removes a private mount; a no-op otherwise. Safe to call twice. */
  close(): void;
}

/** No usable hierarchy: carries the decision so callers can print why. */
export class HierarchyNotFoundError extends Error {
  /** Always `"HierarchyNotFoundError"`. */
  override name = "HierarchyNotFoundError";
  /** The decision, with every candidate and reason. */
  readonly decision: HierarchyDecision;

  /** Creates the error from the final decision. */
  constructor(message: string, decision: HierarchyDecision) {
    super(message);
    this.decision = decision;
  }
}

/**
 * Detects the host hierarchy on the running system. Throws `CgroupInputError` when a `/proc` file
 * cannot be read or parsed, {@link HierarchyNotFoundError} when no hierarchy can be used.
 *
 * @example
 * ```ts
 * using hierarchy = openHostHierarchy({ logger });
 * const ids = await scanHierarchy(hierarchy.mountpoint);
 * bpf.configure(hierarchy.selector);
 * ```
 */
export function openHostHierarchy(options: HostHierarchyOptions = {}): HostHierarchy {
  const proc = options.proc ?? "/proc";
  const logger = options.logger ?? silentLogger;
  const mounts = readInputFile(`${proc}/self/mountinfo`, parseMountinfo);
  const subsystems = readInputFile(`${proc}/cgroups`, parseProcCgroups);
  const taskCgroups = readInputFile(`${proc}/self/cgroup`, parseTaskCgroups);
  const hostView = options.hostView ?? "use";
  const decision = decideHierarchy(
    { mounts, subsystems, taskCgroups },
    liveProbe({ proc, hostView: hostView !== "off" }),
    { useHostView: hostView === "use" },
  );

  const selector = decision.selector;
  if (!selector) {
    logDecision(logger, decision);
    throw new HierarchyNotFoundError(
      "cgroup: cannot tell BPF which hierarchy to read (no target or subsystem index)",
      decision,
    );
  }
  let mountpoint = decision.chosen?.mountpoint ?? null;
  let ownsMount = false;
  if (!mountpoint && decision.privateMount) {
    const made = mountPrivately(decision.privateMount, proc, options.tmpDir);
    decision.candidates.push(made.candidate);
    if (made.candidate.accepted) {
      decision.chosen = made.candidate;
      mountpoint = made.candidate.mountpoint;
      ownsMount = true;
      decision.log.push(`decision: read ids from private mount ${mountpoint}`);
    } else {
      decision.log.push(`private mount: ${made.candidate.reason}`);
    }
  }
  logDecision(logger, decision);

  if (!mountpoint) {
    throw new HierarchyNotFoundError(
      "cgroup: no mount exposes the host hierarchy and a private mount did not either",
      decision,
    );
  }
  let open = ownsMount;
  const dir = mountpoint;
  function close(): void {
    if (!open) return;
    open = false;
    unmount(dir, logger);
  }
  return { mountpoint, selector, decision, ownsMount, close, [Symbol.dispose]: close };
}

function logDecision(logger: Logger, decision: HierarchyDecision): void {
  for (const line of decision.log) logger.info(`cgroup: ${line}`);
  for (const c of decision.candidates) {
    logger[c.relevant ? "info" : "debug"]("cgroup: candidate", {
      mountpoint: c.mountpoint,
      root: c.root,
      fstype: c.fstype,
      accepted: c.accepted,
      reason: c.reason,
    });
  }
}

function run(argv: string[]): { ok: boolean; stderr: string } {
  const [cmd, ...args] = argv as [string, ...string[]];
  try {
    const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
    return { ok: out.success, stderr: new TextDecoder().decode(out.stderr).trim() };
  } catch (err) {
    return { ok: false, stderr: errorReason(err) };
  }
}

function mountPrivately(
  plan: PrivateMountPlan,
  proc: string,
  tmpDir: string | undefined,
): { candidate: Candidate } {
  const dir = Deno.makeTempDirSync({ prefix: "vigil-cgroup-", dir: tmpDir });
  const base = { mountpoint: dir, fstype: plan.fstype, origin: "private-mount" as const };
  const argv = [
    ...(plan.enterCgroupNs ? ["nsenter", `--cgroup=${plan.enterCgroupNs}`] : []),
    "mount",
    "-t",
    plan.fstype,
    ...(plan.options.length ? ["-o", plan.options.join(",")] : []),
    "vigil",
    dir,
  ];
  const mounted = run(argv);
  if (!mounted.ok) {
    Deno.removeSync(dir);
    return {
      candidate: {
        ...base,
        root: "",
        accepted: false,
        relevant: true,
        mountId: null,
        reason: `rejected: '${argv.join(" ")}' failed: ${mounted.stderr || "no message"}`,
        checks: [],
      },
    };
  }
  const candidate = verifyPrivateMount(dir, plan, proc);
  if (!candidate.accepted) unmount(dir, silentLogger);
  return { candidate };
}

function verifyPrivateMount(dir: string, plan: PrivateMountPlan, proc: string): Candidate {
  const mine = parseMountinfo(Deno.readTextFileSync(`${proc}/self/mountinfo`))
    .filter((m) => m.mountPoint === dir).at(-1);
  const checks: CandidateCheck[] = [];
  checks.push(
    mine?.fsType === plan.fstype
      ? { name: "type", status: "pass", detail: plan.fstype }
      : { name: "type", status: "fail", detail: `no ${plan.fstype} mount found at ${dir}` },
  );
  try {
    const ino = statIds(dir).ino;
    checks.push(
      ino === 1n ? { name: "inode", status: "pass", detail: "inode 1 (hierarchy root)" } : {
        name: "inode",
        status: "fail",
        detail:
          `inode ${ino}, not 1: the fresh mount is rooted at the agent's cgroup namespace, not the host hierarchy`,
      },
    );
  } catch (err) {
    checks.push({
      name: "inode",
      status: "fail",
      detail: `cannot stat ${dir}: ${errorReason(err)}`,
    });
  }
  checks.push({
    name: "namespace",
    status: "pass",
    detail: plan.enterCgroupNs
      ? `mounted from the host cgroup namespace (${plan.enterCgroupNs})`
      : "mounted from the agent's cgroup namespace",
  });
  const result = verdict(checks);
  return {
    mountpoint: dir,
    root: mine?.root ?? "",
    fstype: plan.fstype,
    origin: "private-mount",
    mountId: mine?.mountId ?? null,
    relevant: true,
    accepted: result.accepted,
    reason: result.accepted ? `${result.reason}; private mount, removed on close` : result.reason,
    checks,
  };
}

function unmount(dir: string, logger: Logger): void {
  const result = run(["umount", dir]);
  if (!result.ok) logger.warn("cgroup: unmount failed", { dir, error: result.stderr });
  try {
    Deno.removeSync(dir);
  } catch (err) {
    logger.warn("cgroup: cannot remove private mount dir", { dir, error: errorReason(err) });
  }
}
