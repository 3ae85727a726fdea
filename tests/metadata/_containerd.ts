/**
 * A private containerd for tests: Debian's `containerd` with its own root, state and socket under
 * a temporary directory (nothing system-wide is touched), a tiny image imported from a locally
 * built OCI archive (no registry), and `ctr` for containers. Dispose it (`await using`) to kill
 * its tasks, delete its containers, stop the daemon, unmount what it mounted and remove the dir.
 *
 * @module
 */

import { GrpcUnixClient } from "../../src/metadata/grpc.ts";
import { ProtoMessage, ProtoWriter } from "../../src/metadata/protobuf.ts";

const CONTAINERD = "/usr/bin/containerd";
const CTR = "/usr/bin/ctr";

/** The image every test container uses (imported, never pulled). */
export const TEST_IMAGE = "docker.io/vigil/metadata-test:1";

/** Executables in the image's rootfs, with the libraries `ldd` lists. */
const ROOTFS_BINARIES = ["/bin/sh", "/bin/sleep", "/bin/true"];

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Result of a command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion. */
export async function run(cmd: string, args: string[], stdin?: Uint8Array): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Libraries `ldd` lists for `bin` (absolute paths). */
async function libraries(bin: string): Promise<string[]> {
  const out = await must("/usr/bin/ldd", [bin]);
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/**
 * Writes an OCI image-layout archive (`oci-layout`, `index.json`, blobs) with one uncompressed
 * layer holding the host's `sh`, `sleep` and `true` and their libraries. Returns its path.
 */
export async function buildImageArchive(dir: string, name = TEST_IMAGE): Promise<string> {
  const rootfs = `${dir}/image-rootfs`;
  const layout = `${dir}/image-layout`;
  await Deno.mkdir(`${layout}/blobs/sha256`, { recursive: true });
  const files = new Set<string>();
  for (const bin of ROOTFS_BINARIES) {
    files.add(bin);
    for (const lib of await libraries(bin)) files.add(lib);
  }
  for (const file of files) {
    const real = await Deno.realPath(file);
    const target = `${rootfs}${file}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(real, target);
    await Deno.chmod(target, 0o755);
  }
  for (const d of ["proc", "sys", "dev", "tmp", "etc"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  const layerPath = `${dir}/layer.tar`;
  await must("tar", [
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "-C",
    rootfs,
    "-cf",
    layerPath,
    ".",
  ]);
  const layer = await Deno.readFile(layerPath);
  const layerDigest = await sha256Hex(layer);
  await Deno.writeFile(`${layout}/blobs/sha256/${layerDigest}`, layer);
  const enc = new TextEncoder();
  const config = enc.encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sleep", "3600"], Env: ["PATH=/bin"] },
    rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
  }));
  const configDigest = await sha256Hex(config);
  await Deno.writeFile(`${layout}/blobs/sha256/${configDigest}`, config);
  const manifest = enc.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: `sha256:${configDigest}`,
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: `sha256:${layerDigest}`,
      size: layer.length,
    }],
  }));
  const manifestDigest = await sha256Hex(manifest);
  await Deno.writeFile(`${layout}/blobs/sha256/${manifestDigest}`, manifest);
  await Deno.writeTextFile(`${layout}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${layout}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: `sha256:${manifestDigest}`,
        size: manifest.length,
        annotations: {
          "io.containerd.image.name": name,
          "org.opencontainers.image.ref.name": name.slice(name.lastIndexOf(":") + 1),
        },
        platform: { architecture: "amd64", os: "linux" },
      }],
    }),
  );
  const archive = `${dir}/image.oci.tar`;
  await must("tar", ["-C", layout, "-cf", archive, "."]);
  return archive;
}

/** The directory of cgroup path `rel` in every mounted cgroup hierarchy. */
function cgroupDirs(rel: string): string[] {
  const dirs: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    const dash = f.indexOf("-");
    const fstype = f[dash + 1];
    if (dash < 0 || (fstype !== "cgroup" && fstype !== "cgroup2") || f[3] !== "/") continue;
    dirs.push(`${f[4]}${rel}`);
  }
  return dirs;
}

/** A pod for {@link ContainerdDaemon.runPod}. */
export interface PodSpec {
  namespace: string;
  name: string;
  uid: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers: { name: string; args?: string[] }[];
}

/** What {@link ContainerdDaemon.runPod} started. */
export interface RunningPod {
  sandboxId: string;
  /** Container name → container id. */
  containers: Record<string, string>;
  /** The pod's cgroup (cgroupfs driver): `/kubepods/besteffort/pod<uid>`. */
  cgroupParent: string;
}

/** Options of {@link ContainerdDaemon.start}. */
export interface ContainerdStartOptions {
  /** Where root, state and socket go; default a new temporary directory. */
  dir?: string;
  /** Image used for CRI pod sandboxes (the "pause" image). */
  sandboxImage?: string;
}

/** A running private containerd. */
export class ContainerdDaemon implements AsyncDisposable {
  readonly dir: string;
  readonly socket: string;
  readonly #config: string;
  #child: Deno.ChildProcess | undefined;
  #log: Deno.FsFile | undefined;
  #disposed = false;
  /** Cgroup directories created for containers (relative to each hierarchy), to remove. */
  readonly #cgroups = new Set<string>();
  /** Whether /run/containerd (shim sockets; not configurable in 1.6) existed before us. */
  readonly #runDirExisted = exists("/run/containerd");
  #cri: GrpcUnixClient | undefined;

  private constructor(dir: string) {
    this.dir = dir;
    this.socket = `${dir}/containerd.sock`;
    this.#config = `${dir}/config.toml`;
  }

  /** Writes a config (own root/state/socket, no TCP, no metrics) and starts containerd. */
  static async start(options: ContainerdStartOptions = {}): Promise<ContainerdDaemon> {
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "vigil-containerd-" });
    const d = new ContainerdDaemon(dir);
    await Deno.writeTextFile(
      d.#config,
      [
        "version = 2",
        `root = "${dir}/root"`,
        `state = "${dir}/state"`,
        "[grpc]",
        `  address = "${d.socket}"`,
        "[ttrpc]",
        `  address = "${d.socket}.ttrpc"`,
        "[debug]",
        '  address = ""',
        "[metrics]",
        '  address = ""',
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = "${options.sandboxImage ?? TEST_IMAGE}"`,
        "  disable_tcp_service = true",
        "  disable_apparmor = true",
        "  restrict_oom_score_adj = true",
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
        '  runtime_type = "io.containerd.runc.v2"',
        '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
        `  Root = "${dir}/runc"`,
        "",
      ].join("\n"),
    );
    await d.resume();
    return d;
  }

  /** Whether the daemon process is running. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts (or restarts) the daemon on the same dirs and waits for its socket. */
  async resume(): Promise<void> {
    if (this.#child) return;
    this.#log = await Deno.open(`${this.dir}/containerd.log`, {
      create: true,
      append: true,
      write: true,
    });
    this.#child = new Deno.Command(CONTAINERD, {
      args: ["--config", this.#config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    void this.#child.stderr.pipeTo(this.#log.writable).catch(() => {});
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if ((await run(CTR, ["--address", this.socket, "version"])).code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`containerd did not come up on ${this.socket}; see ${this.dir}/containerd.log`);
  }

  /** Stops the daemon (SIGTERM, then SIGKILL after 10 s); tasks and shims keep running. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, 10_000);
    await child.status;
    clearTimeout(timer);
    this.#log = undefined;
  }

  /** `ctr --address <sock> -n <namespace> args…`; throws on failure. */
  ctr(namespace: string, args: string[]): Promise<string> {
    return must(CTR, ["--address", this.socket, "-n", namespace, ...args]);
  }

  /** Imports the test image (built once per daemon) into `namespace`. */
  async importImage(namespace: string): Promise<void> {
    const archive = exists(`${this.dir}/image.oci.tar`)
      ? `${this.dir}/image.oci.tar`
      : await buildImageArchive(this.dir);
    await this.ctr(namespace, ["images", "import", "--all-platforms", archive]);
  }

  /** Notes a cgroup path a container will use, so dispose removes the dirs it leaves. */
  #trackCgroup(path: string): void {
    const parts = path.split("/").filter((p) => p !== "");
    for (let i = parts.length; i > 0; i--) {
      const rel = "/" + parts.slice(0, i).join("/");
      if (!cgroupDirs(rel).some(exists)) this.#cgroups.add(rel);
    }
  }

  /**
   * `ctr run -d`: a running container (task) with `labels`, in cgroup `cgroup` when given.
   * Returns the host pid of its init process.
   */
  async runContainer(
    namespace: string,
    id: string,
    options: { labels?: Record<string, string>; cgroup?: string; args?: string[] } = {},
  ): Promise<number> {
    if (options.cgroup) this.#trackCgroup(options.cgroup);
    const labels = Object.entries(options.labels ?? {}).flatMap((
      [k, v],
    ) => ["--label", `${k}=${v}`]);
    await this.ctr(namespace, [
      "run",
      "-d",
      "--runc-root",
      `${this.dir}/runc`,
      "--fifo-dir",
      `${this.dir}/fifo`,
      ...labels,
      ...(options.cgroup ? ["--cgroup", options.cgroup] : []),
      TEST_IMAGE,
      id,
      ...(options.args ?? ["/bin/sleep", "3600"]),
    ]);
    const tasks = await this.ctr(namespace, ["tasks", "ls"]);
    const line = tasks.split("\n").find((l) => l.split(/\s+/)[0] === id);
    const pid = Number(line?.split(/\s+/)[1]);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid for task ${id}: ${tasks}`);
    return pid;
  }

  /** `ctr containers create`: a container record with `labels` and no task. */
  async createContainer(
    namespace: string,
    id: string,
    labels: Record<string, string>,
  ): Promise<void> {
    const flags = Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);
    await this.ctr(namespace, ["containers", "create", ...flags, TEST_IMAGE, id]);
  }

  /** Deletes a container (killing its task first). */
  async deleteContainer(namespace: string, id: string): Promise<void> {
    await run(CTR, [
      "--address",
      this.socket,
      "-n",
      namespace,
      "tasks",
      "kill",
      "-s",
      "SIGKILL",
      id,
    ]);
    for (let i = 0; i < 50; i++) {
      const r = await run(CTR, ["--address", this.socket, "-n", namespace, "tasks", "delete", id]);
      if (r.code === 0 || /not found/.test(r.stderr)) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    await this.ctr(namespace, ["containers", "delete", id]);
  }

  /**
   * Runs a pod the way kubelet does, through the CRI runtime service: `RunPodSandbox` (host
   * network, cgroup parent `/kubepods/besteffort/pod<uid>`, the pod's labels and annotations)
   * then `CreateContainer` + `StartContainer` for each container with kubelet's labels.
   */
  async runPod(pod: PodSpec): Promise<RunningPod> {
    this.#cri ??= new GrpcUnixClient(this.socket);
    const cri = this.#cri;
    const cgroupParent = `/kubepods/besteffort/pod${pod.uid}`;
    this.#trackCgroup(cgroupParent);
    const podKeys = {
      "io.kubernetes.pod.name": pod.name,
      "io.kubernetes.pod.namespace": pod.namespace,
      "io.kubernetes.pod.uid": pod.uid,
    };
    const meta = new ProtoWriter().string(1, pod.name).string(2, pod.uid).string(3, pod.namespace);
    // Host network (NODE = 2), pod pid namespace (POD = 0), host IPC: no CNI needed.
    const nsOptions = new ProtoWriter().varint(1, 2).varint(2, 0).varint(3, 2);
    const linux = new ProtoWriter().string(1, cgroupParent)
      .message(2, new ProtoWriter().message(1, nsOptions));
    const config = new ProtoWriter().message(1, meta).string(3, `${this.dir}/pods/${pod.uid}`)
      .stringMap(6, { ...pod.labels, ...podKeys }).stringMap(7, pod.annotations ?? {})
      .message(8, linux);
    const timeoutMs = 60_000;
    const sandboxRes = await cri.unary(
      "/runtime.v1.RuntimeService/RunPodSandbox",
      new ProtoWriter().message(1, config).finish(),
      { timeoutMs },
    );
    const sandboxId = new ProtoMessage(sandboxRes).string(1);
    const containers: Record<string, string> = {};
    const enc = new TextEncoder();
    for (const c of pod.containers) {
      const cc = new ProtoWriter().message(1, new ProtoWriter().string(1, c.name))
        .message(2, new ProtoWriter().string(1, TEST_IMAGE));
      const [cmd, ...args] = c.args ?? ["/bin/sleep", "3600"];
      cc.bytes(3, enc.encode(cmd));
      for (const a of args) cc.bytes(4, enc.encode(a));
      cc.stringMap(9, { ...podKeys, "io.kubernetes.container.name": c.name })
        .string(11, `${c.name}/0.log`);
      const created = await cri.unary(
        "/runtime.v1.RuntimeService/CreateContainer",
        new ProtoWriter().string(1, sandboxId).message(2, cc).message(3, config).finish(),
        { timeoutMs },
      );
      const id = new ProtoMessage(created).string(1);
      await cri.unary(
        "/runtime.v1.RuntimeService/StartContainer",
        new ProtoWriter().string(1, id).finish(),
        { timeoutMs },
      );
      containers[c.name] = id;
    }
    return { sandboxId, containers, cgroupParent };
  }

  /** Kills every task, deletes containers (and CRI sandboxes via their containers). */
  async #cleanupContainers(): Promise<void> {
    const nsOut = await run(CTR, ["--address", this.socket, "namespaces", "ls", "-q"]);
    for (const ns of nsOut.stdout.split("\n").filter((s) => s.trim() !== "")) {
      const tasks = await run(CTR, ["--address", this.socket, "-n", ns, "tasks", "ls", "-q"]);
      for (const id of tasks.stdout.split("\n").filter((s) => s.trim() !== "")) {
        await run(CTR, ["--address", this.socket, "-n", ns, "tasks", "kill", "-s", "SIGKILL", id]);
        for (let i = 0; i < 50; i++) {
          const r = await run(CTR, ["--address", this.socket, "-n", ns, "tasks", "delete", id]);
          if (r.code === 0) break;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      const cs = await run(CTR, ["--address", this.socket, "-n", ns, "containers", "ls", "-q"]);
      for (const id of cs.stdout.split("\n").filter((s) => s.trim() !== "")) {
        await run(CTR, ["--address", this.socket, "-n", ns, "containers", "delete", id]);
      }
    }
  }

  /** Unmounts everything mounted below the directory, deepest first. */
  async #unmountAll(): Promise<void> {
    const mounts = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .map((l) => l.split(" ")[4] ?? "")
      .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
      .filter((p) => p.startsWith(`${this.dir}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#cri?.close();
    if (!this.#child) await this.resume().catch(() => {});
    if (this.#child) await this.#cleanupContainers().catch(() => {});
    await this.stop();
    await this.#unmountAll();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    // Deepest first; rmdir only removes empty directories.
    for (const rel of [...this.#cgroups].sort((a, b) => b.length - a.length)) {
      for (const dir of cgroupDirs(rel)) await Deno.remove(dir).catch(() => {});
    }
    if (!this.#runDirExisted) {
      await Deno.remove("/run/containerd", { recursive: true }).catch(() => {});
    }
  }
}
