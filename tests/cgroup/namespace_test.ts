/**
 * The EKS pitfall for real: a mount + cgroup namespace (util-linux `unshare`) rooted at a fresh
 * sub-cgroup, with that sub-cgroup bind-mounted over the host's mountpoint of the hierarchy BPF
 * reads, as a runtime pre-mounts a pod's own cgroupfs. The live detector must reject the bind
 * mount for the right reason and still reach the host hierarchy, through a host process's
 * `/proc/<pid>/root` or a private mount it removes again.
 *
 * Needs root. Probed up front: when it cannot run, every test is ignored with the probe's reason
 * in its name.
 */
import assert from "node:assert/strict";
import { decideHierarchy } from "../../src/cgroup/hierarchy.ts";
import { liveProbe } from "../../src/cgroup/live_probe.ts";
import { parseMountinfo } from "../../src/cgroup/mountinfo.ts";
import { parseProcCgroups } from "../../src/cgroup/proc_cgroups.ts";
import { parseTaskCgroups, taskCgroupFor } from "../../src/cgroup/task_cgroup.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = Deno.execPath();

interface Setup {
  /** Where the host mounts the target hierarchy, e.g. /sys/fs/cgroup/memory. */
  mountpoint: string;
  /** This process's cgroup directory in it. */
  ownDir: string;
}

function run(argv: string[], env: Record<string, string> = {}) {
  const [cmd, ...args] = argv as [string, ...string[]];
  const out = new Deno.Command(cmd, { args, env, cwd: ROOT, stdout: "piped", stderr: "piped" })
    .outputSync();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

function probe(): { setup: Setup | null; reason: string | null } {
  const none = (reason: string) => ({ setup: null, reason });
  if (Deno.uid() !== 0) return none("not root: unshare --cgroup and mount need CAP_SYS_ADMIN");
  for (const tool of ["unshare", "nsenter", "mount", "umount"]) {
    if (run(["sh", "-c", `command -v ${tool}`]).code !== 0) return none(`${tool} not installed`);
  }
  const read = (p: string) => Deno.readTextFileSync(p);
  const taskCgroups = parseTaskCgroups(read("/proc/self/cgroup"));
  const decision = decideHierarchy(
    {
      mounts: parseMountinfo(read("/proc/self/mountinfo")),
      subsystems: parseProcCgroups(read("/proc/cgroups")),
      taskCgroups,
    },
    liveProbe(),
  );
  const chosen = decision.chosen;
  const target = decision.target;
  if (!chosen || chosen.origin !== "agent" || !target) {
    return none(`the test runner itself has no accepted cgroup mount: ${decision.log.at(-1)}`);
  }
  const line = taskCgroupFor(
    taskCgroups,
    target.kind === "controller" ? target.controller : undefined,
  );
  if (!line) return none("no /proc/self/cgroup line for the target hierarchy");
  const unshare = run(["unshare", "--mount", "--cgroup", "--fork", "true"]);
  if (unshare.code !== 0) return none(`unshare --mount --cgroup failed: ${unshare.stderr.trim()}`);
  const ownDir = `${chosen.mountpoint}${line.path === "/" ? "" : line.path}`;
  const testDir = `${ownDir}/vigil-probe-${Deno.pid}`;
  try {
    Deno.mkdirSync(testDir);
    Deno.removeSync(testDir);
  } catch (err) {
    return none(`cannot create a sub-cgroup in ${ownDir}: ${err}`);
  }
  return { setup: { mountpoint: chosen.mountpoint, ownDir }, reason: null };
}

const { setup, reason: SKIP } = probe();

function live(name: string): { name: string; ignore: boolean } {
  return SKIP === null
    ? { name, ignore: false }
    : { name: `${name} [IGNORED: ${SKIP}]`, ignore: true };
}

function removeCgroup(dir: string): void {
  // A cgroup can stay busy for a moment after its last process is reaped.
  for (let i = 0; i < 50; i++) {
    try {
      Deno.removeSync(dir);
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      const until = Date.now() + 20;
      while (Date.now() < until) { /* brief busy wait, sync on purpose */ }
    }
  }
  Deno.removeSync(dir);
}

/**
 * Runs `cmd` in a new mount + cgroup namespace rooted at a fresh sub-cgroup of the target
 * hierarchy, which is bind-mounted over the host's mountpoint first (the pre-mounted pod cgroupfs).
 * `hidePids` adds a PID namespace with its own /proc, so no host process is visible.
 */
function inPodNamespace(cmd: string[], hidePids = false) {
  const s = setup as Setup;
  const pod = `${s.ownDir}/vigil-pod-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(pod);
  try {
    const pid = hidePids ? "--pid --mount-proc " : "";
    return run([
      "sh",
      "-c",
      `echo $$ > "$POD/cgroup.procs" && exec unshare --mount --cgroup ${pid}--fork ` +
      `sh -c 'mount --bind "$POD" "$TARGET" && exec "$@"' sh "$@"`,
      "sh",
      ...cmd,
    ], { POD: pod, TARGET: s.mountpoint });
  } finally {
    removeCgroup(pod);
  }
}

function hostMountsAt(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) =>
    l.split(" ")[4] === dir || l.includes("vigil-cgroup-")
  );
}

interface Report {
  root: { mountpoint: string; fstype: string; controller: string | null } | null;
  candidates: { mountpoint: string; root: string; accepted: boolean; reason: string }[];
  container: unknown;
}

Deno.test(
  live("vigil cgroup resolve rejects a pod's bind-mounted cgroup and reaches the host hierarchy"),
  () => {
    const s = setup as Setup;
    const before = hostMountsAt(s.mountpoint);
    const out = inPodNamespace([DENO, "run", "-A", "main.ts", "cgroup", "resolve", "--json"]);
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(out.stdout) as Report;

    const bind = report.candidates.find((c) => c.mountpoint === s.mountpoint && c.root === "/");
    assert.ok(bind, `the bind mount is listed: ${out.stdout}`);
    assert.equal(bind.accepted, false);
    assert.match(bind.reason, /inode \d+, not 1: the directory is a cgroup inside the hierarchy/);
    assert.match(bind.reason, /private cgroup namespace/);
    const covered = report.candidates.find((c) =>
      c.mountpoint === s.mountpoint && c.root.startsWith("/..")
    );
    assert.ok(
      covered,
      "the host's own mount, now covered, is listed with a namespace-relative root",
    );
    assert.match(covered.reason, /hidden under mount \d+/);

    const root = report.root;
    assert.ok(root, "a host hierarchy was reached");
    const viaProcRoot = new RegExp(`^/proc/[12]/root${s.mountpoint}$`).test(root.mountpoint);
    const viaPrivate = /vigil-cgroup-/.test(root.mountpoint);
    assert.ok(viaProcRoot || viaPrivate, `unexpected root ${root.mountpoint}`);
    assert.deepEqual(hostMountsAt(s.mountpoint), before, "nothing leaked into the host namespace");
  },
);

Deno.test(
  live("openHostHierarchy() mounts privately from the host cgroup namespace and unmounts on close"),
  () => {
    const out = inPodNamespace([DENO, "run", "-A", "tests/cgroup/_live_detect.ts", "enter-only"]);
    assert.equal(out.code, 0, out.stderr);
    const r = JSON.parse(out.stdout);
    assert.equal(r.ok, true, out.stdout);
    assert.equal(r.ownsMount, true);
    assert.match(r.mountpoint, /vigil-cgroup-/);
    const made = r.candidates.find((c: { origin: string }) => c.origin === "private-mount");
    assert.match(made.reason, /^accepted: .*inode 1 \(hierarchy root\)/);
    assert.match(
      made.reason,
      /mounted from the host cgroup namespace \(\/proc\/[12]\/ns\/cgroup\)/,
    );
    assert.equal(r.mountedBeforeClose, true);
    assert.equal(r.mountedAfterClose, false, "close() unmounted it");
    assert.equal(r.existsAfterClose, false, "close() removed the directory");
  },
);

Deno.test(
  live("openHostHierarchy() refuses a private mount rooted at its own namespace (no host PIDs)"),
  () => {
    const cli = inPodNamespace([DENO, "run", "-A", "main.ts", "cgroup", "resolve", "--json"], true);
    assert.equal(cli.code, 1, cli.stderr);
    const report = JSON.parse(cli.stdout) as Report;
    assert.equal(report.root, null);
    assert.match(
      report.candidates.at(-1)?.reason ?? "",
      /^rejected: inode \d+, not 1: the fresh mount is rooted at the agent's cgroup namespace/,
    );

    const out = inPodNamespace([DENO, "run", "-A", "tests/cgroup/_live_detect.ts", "use"], true);
    assert.equal(out.code, 0, out.stderr);
    const r = JSON.parse(out.stdout);
    assert.equal(r.ok, false);
    assert.deepEqual(r.leftoverPrivateMounts, [], "the rejected private mount was removed");
  },
);

Deno.test(
  live("openHostHierarchy() mounts privately when no cgroupfs is mounted at all"),
  () => {
    // Host cgroup namespace, but /sys/fs/cgroup hidden under an empty tmpfs (as in a bpm job).
    const out = run([
      "unshare",
      "--mount",
      "--fork",
      "sh",
      "-c",
      'mount -t tmpfs vigil-test /sys/fs/cgroup && exec "$@"',
      "sh",
      DENO,
      "run",
      "-A",
      "tests/cgroup/_live_detect.ts",
      "enter-only",
    ]);
    assert.equal(out.code, 0, out.stderr);
    const r = JSON.parse(out.stdout);
    assert.equal(r.ok, true, out.stdout);
    const made = r.candidates.find((c: { origin: string }) => c.origin === "private-mount");
    assert.match(made.reason, /mounted from the agent's cgroup namespace/);
    assert.equal(r.mountedAfterClose, false);
    assert.equal(r.existsAfterClose, false);
  },
);
