/**
 * Loads `tests/fixtures/cgroup/<name>/` and replays its recorded live facts as a HostProbe.
 *
 * @module
 */
import { encodeDevice, type MountInfo, parseMountinfo } from "../../src/cgroup/mountinfo.ts";
import type { DirStat, HostProbe, Probed } from "../../src/cgroup/probe.ts";
import { parseProcCgroups, type Subsystem } from "../../src/cgroup/proc_cgroups.ts";
import { parseTaskCgroups, type TaskCgroup } from "../../src/cgroup/task_cgroup.ts";
import type { ContainerIdentity } from "../../src/cgroup/container.ts";

/** Directory of the cgroup fixtures. */
export const FIXTURE_DIR = new URL("../fixtures/cgroup/", import.meta.url).pathname;

/** Every fixture directory name. */
export const FIXTURE_NAMES: readonly string[] = [
  "this_machine_hybrid",
  "this_machine_eks_namespace",
  "this_machine_v1_view",
  "tas_hybrid_reverse",
  "eks_al2_v1_pod",
  "eks_al2023_v2_pod",
  "private_cgroupns_v2",
  "v1_pure_host",
  "v2_pure_host",
];

/** `expected.json`. */
export interface Expected {
  mode: string;
  selector: unknown;
  root: string | null;
  privateMount: { fstype: string; options: string[]; enterCgroupNs: string | null } | null;
  container: ContainerIdentity | null;
  genuineRoots: string[];
  reasons: { mountId: number; includes: string }[];
}

interface ProbeJson {
  namespace: { kind: "host" | "private"; detail: string };
  hostView: { pid: number; mountinfo: string } | { error: string };
  subsysIds: Record<string, number> | null;
  stat: Record<string, { ino: number; dev: string }>;
}

/** A loaded fixture. */
export interface Fixture {
  name: string;
  dir: string;
  mounts: MountInfo[];
  subsystems: Subsystem[];
  taskCgroups: TaskCgroup[];
  probe: HostProbe;
  /** Recorded `stat` by path, for the naive strategies. */
  stat: Map<string, DirStat>;
  expected: Expected;
}

function parseDev(text: string): bigint {
  const [major, minor] = text.split(":").map(Number);
  return encodeDevice(major ?? 0, minor ?? 0);
}

/** Loads one fixture by directory name. */
export function loadFixture(name: string): Fixture {
  const dir = `${FIXTURE_DIR}${name}`;
  const read = (file: string) => Deno.readTextFileSync(`${dir}/${file}`);
  const json = JSON.parse(read("probe.json")) as ProbeJson;
  const stat = new Map(
    Object.entries(json.stat).map((
      [path, s],
    ) => [path, { ino: BigInt(s.ino), dev: parseDev(s.dev) }]),
  );
  const hostView = json.hostView;
  const probe: HostProbe = {
    live: false,
    statDir(path): Probed<DirStat> {
      const s = stat.get(path);
      return s ? { status: "ok", value: s } : { status: "error", reason: `not recorded: ${path}` };
    },
    cgroupNamespace: () => ({ status: "ok", value: json.namespace }),
    hostView: () =>
      "pid" in hostView
        ? {
          status: "ok",
          value: {
            pid: hostView.pid,
            prefix: `/proc/${hostView.pid}/root`,
            cgroupNsPath: `/proc/${hostView.pid}/ns/cgroup`,
            mounts: parseMountinfo(read(hostView.mountinfo)),
            detail: "recorded",
          },
        }
        : { status: "error", reason: hostView.error },
    subsysIds: () =>
      json.subsysIds
        ? { status: "ok", value: new Map(Object.entries(json.subsysIds)) }
        : { status: "error", reason: "not recorded" },
  };
  return {
    name,
    dir,
    mounts: parseMountinfo(read("mountinfo")),
    subsystems: parseProcCgroups(read("cgroups")),
    taskCgroups: parseTaskCgroups(read("cgroup")),
    probe,
    stat,
    expected: JSON.parse(read("expected.json")) as Expected,
  };
}
