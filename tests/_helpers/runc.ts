/**
 * Real containers for tests, run with the host's `runc` (Debian's package; no image registry):
 * a {@link RuncSession} builds a minimal read-only rootfs by copying the host's `/bin/sh`,
 * `/bin/true` and `/bin/sleep` with the libraries `ldd` lists, generates each container's
 * `config.json` from `runc spec`, and starts containers whose `linux.cgroupsPath` has the shape a
 * runtime would use (kubepods, docker, CRI-O, Garden, ...).
 *
 * runc always runs with its cgroupfs driver. On a v1 or hybrid host it creates the path in every
 * mounted hierarchy (each v1 controller, `name=systemd` and the unified tree). Systemd-driver
 * layouts (`/kubepods.slice/.../cri-containerd-<id>.scope`) are given as plain paths, which the
 * cgroupfs driver accepts verbatim; `--systemd-cgroup` would need a running systemd.
 *
 * Cleanup is owned by `await using`: disposing a container runs `runc delete -f` and removes
 * every cgroup directory its start created (deepest first, in every hierarchy, only when empty),
 * and disposing the session also disposes containers still alive and removes the rootfs. A
 * rootfs per session (not per test run) because Deno's test runner dispatches no `unload` event
 * to a test module, so nothing could remove a per-run directory; building one costs a few ms.
 *
 * @module
 */
import type { ExportedEvent } from "./agent_process.ts";
import { findOnPath, missing } from "./requires.ts";

/** Executables copied into the rootfs as `/bin/<name>` (with their shared libraries). */
const ROOTFS_BINARIES: Readonly<Record<string, string>> = {
  sh: "/bin/sh",
  true: "/bin/true",
  sleep: "/bin/sleep",
};

/** A cgroup filesystem mounted at its hierarchy root, where runc creates container paths. */
export interface CgroupMount {
  readonly mountpoint: string;
  /** `cgroup` (v1) or `cgroup2`. */
  readonly fstype: string;
  /** Super options, e.g. `rw,memory` or `rw,name=systemd`. */
  readonly options: string;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Cgroup mounts of this mount namespace whose mountinfo root is `/`, one per superblock. */
export function cgroupMounts(): CgroupMount[] {
  const seen = new Set<string>();
  const mounts: CgroupMount[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 0) continue;
    const fstype = fields[dash + 1];
    if (fstype !== "cgroup" && fstype !== "cgroup2") continue;
    const [device, root, mountpoint] = [fields[2], fields[3], fields[4]];
    if (root !== "/" || device === undefined || mountpoint === undefined) continue;
    if (seen.has(device)) continue;
    seen.add(device);
    mounts.push({
      mountpoint: unescapeMountinfo(mountpoint),
      fstype,
      options: fields[dash + 3] ?? "",
    });
  }
  return mounts;
}

/** The v1 mount of `controller` (e.g. `memory`), or the unified mount for `"unified"`. */
export function cgroupMountOf(controller: string): CgroupMount | undefined {
  return cgroupMounts().find((m) =>
    controller === "unified"
      ? m.fstype === "cgroup2"
      : m.fstype === "cgroup" && m.options.split(",").includes(controller)
  );
}

/** The runc binary, when requires("runc") is met. */
function runcPath(): string | null {
  return missing("runc") === null ? findOnPath("runc") : null;
}

/** `n` random lowercase hex characters. */
export function randomHex(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(Math.ceil(n / 2)));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, n);
}

/** A random 64-hex container id, as OCI runtimes generate. */
export function containerId64(): string {
  return randomHex(64);
}

/** A Garden LRP instance GUID: the first 28 characters of a v4 UUID. */
export function gardenInstanceGuid(): string {
  return crypto.randomUUID().slice(0, 28);
}

/** Result of a finished `runc exec`. */
export interface ExecResult {
  /** Host pid of the exec'd process (from `--pid-file`). */
  readonly pid: number;
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A `runc exec` still running, with its stdin open. */
export interface RunningExec {
  /** Host pid of the exec'd process, once runc wrote it. */
  readonly pid: Promise<number>;
  /** Writes to the process's stdin. */
  write(text: string): Promise<void>;
  /** Closes stdin and waits for the process; resolves to its exit code. */
  wait(): Promise<number>;
}

/** A running container. Dispose it (`await using`) to delete it and its cgroups. */
export interface RuncContainer extends AsyncDisposable {
  /** runc's container id (unique per test run). */
  readonly id: string;
  /** `linux.cgroupsPath` as given. */
  readonly cgroupsPath: string;
  /** Host pid of the container's init process. */
  readonly pid: number;
  /** The cgroup directory of the container in the hierarchy mounted at `mount`. */
  cgroupDir(mount: CgroupMount): string;
  /** Runs `args` in the container (`runc exec`) to completion. */
  exec(args: string[]): Promise<ExecResult>;
  /** Starts `args` in the container with a stdin pipe, for processes the test drives. */
  spawnExec(args: string[]): RunningExec;
  /** Adds cgroup directories (absolute, e.g. created by the test) to remove on dispose. */
  removeOnDispose(dir: string): void;
  /** `runc delete -f` and cgroup removal; idempotent. */
  delete(): Promise<void>;
}

/** Options of {@link RuncSession.start}. */
export interface StartContainerOptions {
  /** The container's init process; default `sleep 3600`. */
  readonly args?: string[];
}

/** Builds the rootfs once and starts containers from it. Dispose it to clean everything up. */
export class RuncSession implements AsyncDisposable {
  readonly #runc: string;
  readonly #dir: string;
  readonly #rootfs: string;
  readonly #template: Record<string, unknown>;
  readonly #live = new Set<RuncContainer>();
  #count = 0;

  private constructor(runc: string, dir: string, template: Record<string, unknown>) {
    this.#runc = runc;
    this.#dir = dir;
    this.#rootfs = `${dir}/rootfs`;
    this.#template = template;
  }

  /** Builds the rootfs and the `config.json` template; throws when runc cannot run here. */
  static async open(): Promise<RuncSession> {
    const runc = runcPath();
    if (runc === null) {
      throw new Error(`runc containers cannot run here: ${missing("runc")}`);
    }
    const dir = await Deno.makeTempDir({ prefix: "vigil-runc-" });
    try {
      await buildRootfs(`${dir}/rootfs`);
      const specDir = `${dir}/spec`;
      await Deno.mkdir(specDir);
      await run(runc, ["spec", "--bundle", specDir]);
      const template = JSON.parse(await Deno.readTextFile(`${specDir}/config.json`));
      return new RuncSession(runc, dir, template);
    } catch (err) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  /** Starts a detached container whose cgroups are at `cgroupsPath` (absolute). */
  async start(cgroupsPath: string, options: StartContainerOptions = {}): Promise<RuncContainer> {
    const id = `vigil-t${Deno.pid}-${++this.#count}-${randomHex(6)}`;
    const bundle = `${this.#dir}/${id}`;
    await Deno.mkdir(bundle);
    const config = this.#config(id, cgroupsPath, options.args ?? ["/bin/sleep", "3600"]);
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(config, null, 1));
    const created = newCgroupDirs(cgroupsPath);
    const container = new Container(this.#runc, id, bundle, cgroupsPath, created, () => {
      this.#live.delete(container);
    });
    this.#live.add(container);
    try {
      await run(this.#runc, [
        "--log",
        `${bundle}/runc.log`,
        "run",
        "--detach",
        "--bundle",
        bundle,
        "--pid-file",
        `${bundle}/init.pid`,
        id,
      ], { log: `${bundle}/runc.log` });
      container.pid = Number((await Deno.readTextFile(`${bundle}/init.pid`)).trim());
    } catch (err) {
      await container.delete();
      throw err;
    }
    return container;
  }

  #config(id: string, cgroupsPath: string, args: string[]): Record<string, unknown> {
    const config = structuredClone(this.#template) as {
      process: Record<string, unknown>;
      root: Record<string, unknown>;
      hostname?: string;
      mounts: { destination: string; type: string; source: string; options: string[] }[];
      linux: { cgroupsPath?: string; namespaces: { type: string }[] };
    };
    config.process.terminal = false;
    config.process.args = args;
    config.process.cwd = "/";
    config.process.env = ["PATH=/bin"];
    config.root = { path: this.#rootfs, readonly: true };
    config.hostname = id.slice(0, 63);
    config.mounts.push({
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=1777", "size=1m"],
    });
    // The host network: no network namespace to create and tear down per container.
    config.linux.namespaces = config.linux.namespaces.filter((ns) => ns.type !== "network");
    config.linux.cgroupsPath = cgroupsPath;
    return config;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const errors: unknown[] = [];
    for (const container of [...this.#live].reverse()) {
      await container.delete().catch((err) => errors.push(err));
    }
    await Deno.remove(this.#dir, { recursive: true }).catch((err) => errors.push(err));
    if (errors.length > 0) throw new AggregateError(errors, "runc session cleanup failed");
  }
}

class Container implements RuncContainer {
  readonly id: string;
  readonly cgroupsPath: string;
  pid = 0;
  readonly #runc: string;
  readonly #bundle: string;
  /** Absolute directories to remove, in creation order (removed in reverse). */
  readonly #created: string[];
  readonly #onDeleted: () => void;
  #deleting: Promise<void> | null = null;
  #execs = 0;

  constructor(
    runc: string,
    id: string,
    bundle: string,
    cgroupsPath: string,
    created: string[],
    onDeleted: () => void,
  ) {
    this.#runc = runc;
    this.id = id;
    this.#bundle = bundle;
    this.cgroupsPath = cgroupsPath;
    this.#created = created;
    this.#onDeleted = onDeleted;
  }

  cgroupDir(mount: CgroupMount): string {
    return `${mount.mountpoint}${this.cgroupsPath}`;
  }

  async exec(args: string[]): Promise<ExecResult> {
    const pidFile = `${this.#bundle}/exec-${++this.#execs}.pid`;
    const out = await new Deno.Command(this.#runc, {
      args: ["exec", "--pid-file", pidFile, this.id, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    const stderr = decoder.decode(out.stderr);
    let pid = 0;
    try {
      pid = Number((await Deno.readTextFile(pidFile)).trim());
    } catch {
      throw new Error(`runc exec ${args.join(" ")} did not start (exit ${out.code}): ${stderr}`);
    }
    return { pid, code: out.code, stdout: decoder.decode(out.stdout), stderr };
  }

  spawnExec(args: string[]): RunningExec {
    const pidFile = `${this.#bundle}/exec-${++this.#execs}.pid`;
    const child = new Deno.Command(this.#runc, {
      args: ["exec", "--pid-file", pidFile, this.id, ...args],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    let exited = false;
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    const pid = (async () => {
      for (const until = Date.now() + 10_000; Date.now() < until;) {
        try {
          const text = (await Deno.readTextFile(pidFile)).trim();
          if (text !== "") return Number(text);
        } catch {
          // not written yet
        }
        if (exited) throw new Error(`runc exec ${args.join(" ")} exited before starting`);
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`runc exec ${args.join(" ")}: no pid file after 10 s`);
    })();
    return {
      pid,
      write: (text) => writer.write(new TextEncoder().encode(text)),
      wait: async () => {
        await writer.close().catch(() => {});
        return (await status).code;
      },
    };
  }

  removeOnDispose(dir: string): void {
    this.#created.push(dir);
  }

  delete(): Promise<void> {
    this.#deleting ??= this.#delete();
    return this.#deleting;
  }

  async #delete(): Promise<void> {
    const problems: string[] = [];
    const out = await new Deno.Command(this.#runc, {
      args: ["delete", "--force", this.id],
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (!out.success && !/does not exist|not exist/.test(stderr)) {
      problems.push(`runc delete -f ${this.id}: ${stderr.trim()}`);
    }
    // Deepest first; a directory still holding a cgroup (another test's) is left alone.
    const dirs = [...this.#created].sort((a, b) => b.length - a.length);
    for (const dir of dirs) {
      const left = await removeCgroupDir(dir);
      if (left !== null) problems.push(left);
    }
    this.#onDeleted();
    if (problems.length > 0) {
      throw new Error(`container ${this.id} cleanup left:\n${problems.join("\n")}`);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.delete();
  }
}

/**
 * The directories `runc run` will create for `cgroupsPath`: in each cgroup mount, every
 * component of the path that does not exist yet (outermost first).
 */
function newCgroupDirs(cgroupsPath: string): string[] {
  const parts = cgroupsPath.split("/").filter((p) => p !== "");
  const dirs: string[] = [];
  for (const mount of cgroupMounts()) {
    let dir = mount.mountpoint;
    let missing = false;
    for (const part of parts) {
      dir = `${dir}/${part}`;
      if (!missing) {
        try {
          Deno.statSync(dir);
          continue;
        } catch {
          missing = true;
        }
      }
      dirs.push(dir);
    }
  }
  return dirs;
}

/**
 * rmdir of a cgroup directory, retried while its last tasks are still being reaped (EBUSY).
 * Returns null when gone (or never made), a description when it could not be removed for a
 * reason other than still having child cgroups of someone else.
 */
async function removeCgroupDir(dir: string): Promise<string | null> {
  for (let attempt = 0;; attempt++) {
    try {
      await Deno.remove(dir);
      return null;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      const code = (err as { code?: string }).code;
      const hasChildren = (() => {
        try {
          for (const e of Deno.readDirSync(dir)) if (e.isDirectory) return true;
        } catch {
          return false;
        }
        return false;
      })();
      if (hasChildren) return null;
      if (attempt >= 100) return `${dir}: ${code ?? err}`;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Runs a command to completion; throws with its stderr (and runc's log file) on failure. With
 * `log` (runc's `--log` file) stderr is not piped: a detached container inherits runc's stdio,
 * and a pipe it holds would never reach end-of-file.
 */
async function run(cmd: string, args: string[], options: { log?: string } = {}): Promise<void> {
  const stderr = options.log ? "null" : "piped";
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr }).output();
  if (out.success) return;
  let log = "";
  if (options.log) log = await Deno.readTextFile(options.log).catch(() => "");
  throw new Error(
    `${cmd} ${args.join(" ")} failed (exit ${out.code}): ${
      options.log ? "" : new TextDecoder().decode(out.stderr).trim()
    }${log ? `\nlog:\n${log.trim()}` : ""}`,
  );
}

/** Copies {@link ROOTFS_BINARIES} and the libraries `ldd` lists into `rootfs`. */
async function buildRootfs(rootfs: string): Promise<void> {
  for (const sub of ["bin", "proc", "dev", "sys", "tmp"]) {
    await Deno.mkdir(`${rootfs}/${sub}`, { recursive: true });
  }
  const libraries = new Set<string>();
  for (const [name, source] of Object.entries(ROOTFS_BINARIES)) {
    await Deno.copyFile(source, `${rootfs}/bin/${name}`);
    await Deno.chmod(`${rootfs}/bin/${name}`, 0o755);
    const out = await new Deno.Command("ldd", { args: [source], stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success && !text.includes("not a dynamic executable")) {
      throw new Error(`ldd ${source}: ${new TextDecoder().decode(out.stderr)}`);
    }
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)`.
    for (const m of text.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/g)) {
      if (m[1]) libraries.add(m[1]);
    }
  }
  for (const lib of libraries) {
    const target = `${rootfs}${lib}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(lib, target);
  }
}

/** What a process event in a container must carry. */
export interface ExpectedWorkload {
  /** Runtime name in `pod.container.id` (`docker`, `containerd`, `cri-o`, `garden`, ...). */
  readonly runtime: string;
  /** Full container id (or Garden handle) as in the cgroup path. */
  readonly id: string;
  /** Dashed pod UID (or 32-hex static-pod UID); absent when the path has no pod. */
  readonly podUid?: string;
}

/**
 * Checks the container fields of an exported `process` object: `pod.container.id` is
 * `<runtime>://<id>`, `pod.uid` is the pod UID (or absent), and `docker` is a non-empty prefix of
 * the id (its exact length is checked by a dedicated test). `expected` null: a host process, so
 * neither `docker` nor `pod` may be present. Returns a description of the first mismatch, or null.
 */
export function workloadMismatch(
  process: ExportedEvent | undefined,
  expected: ExpectedWorkload | null,
): string | null {
  const show = () => JSON.stringify({ docker: process?.docker, pod: process?.pod });
  if (process === undefined || process === null) return "no process object";
  if (expected === null) {
    return process.docker === undefined && process.pod === undefined
      ? null
      : `host process has container fields ${show()}`;
  }
  const uri = `${expected.runtime}://${expected.id}`;
  if (process.pod?.container?.id !== uri) return `pod.container.id: want ${uri}, got ${show()}`;
  if (process.pod?.uid !== expected.podUid) {
    return `pod.uid: want ${expected.podUid ?? "(absent)"}, got ${show()}`;
  }
  const docker = process.docker;
  if (typeof docker !== "string" || docker === "" || !expected.id.startsWith(docker)) {
    return `docker: want a prefix of ${expected.id}, got ${show()}`;
  }
  return null;
}
