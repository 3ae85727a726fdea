/**
 * The one gate of tests that need something of the machine: root, runc, containerd, python3,
 * promtool, a C compiler, or a kernel feature. A test that cannot run here is ignored LOUDLY, with
 * the reason in its name, never passed silently. Each need is checked once per process, on first
 * use, so a test file pays only for what it asks.
 *
 * @example
 * ```ts
 * Deno.test({ ...requires("kprobe policy fires", "root", "kprobe"), async fn() { ... } });
 * ```
 *
 * @module
 */
import { FEATURE_NAMES, type FeatureName } from "../../src/kernel/types.ts";
import { kernelReport } from "./kernel.ts";

/** What a test may need. A kernel feature name means "the probe says it works here". */
export type Need =
  | "root"
  | "runc"
  | "containerd"
  | "python3"
  | "promtool"
  | "cc"
  | "systemd-analyze"
  | FeatureName;

/** Test options: `name` as given, or ignored with the first missing need's reason in the name. */
export function requires(name: string, ...needs: Need[]): { name: string; ignore: boolean } {
  for (const need of needs) {
    const reason = missing(need);
    if (reason !== null) return { name: `${name} [IGNORED: ${reason}]`, ignore: true };
  }
  return { name, ignore: false };
}

const memo = new Map<Need, string | null>();

/** Why `need` is not met here, or null when it is. */
export function missing(need: Need): string | null {
  if (!memo.has(need)) memo.set(need, check(need));
  return memo.get(need) ?? null;
}

function check(need: Need): string | null {
  switch (need) {
    case "root":
      return rootMissing();
    case "runc":
      return missing("root") ?? runcMissing();
    case "containerd":
      return missing("root") ?? containerdMissing();
    case "python3":
      return runs("python3", ["-c", "import socket"], "python3 is not installed");
    case "promtool":
      return runs(
        "promtool",
        ["--version"],
        "promtool is not installed (apt-get install prometheus)",
      );
    case "cc":
      return runs("cc", ["--version"], "no C compiler (cc)");
    case "systemd-analyze":
      return runs(
        "systemd-analyze",
        ["--version"],
        "systemd-analyze is not installed (apt-get install systemd)",
      );
  }
  if ((FEATURE_NAMES as readonly string[]).includes(need)) {
    return missing("root") ?? featureMissing(need);
  }
  throw new Error(`requires(): unknown need '${need}'`);
}

function rootMissing(): string | null {
  if (Deno.uid() !== 0) return "not root: BPF tests need CAP_BPF and CAP_PERFMON (run as root)";
  if (!exists("/sys/kernel/btf/vmlinux")) return "kernel has no BTF at /sys/kernel/btf/vmlinux";
  return null;
}

function featureMissing(feature: FeatureName): string | null {
  const report = kernelReport();
  const result = report.features[feature];
  if (result.supported === true) return null;
  return `kernel ${report.kernelRelease} has no usable ${feature}: ${result.reason}`;
}

function runcMissing(): string | null {
  const runc = findOnPath("runc");
  if (runc === null) return "runc not found on PATH (scripts/setup.sh installs Debian's runc)";
  const version = runs(runc, ["--version"], `cannot run ${runc}`);
  if (version !== null) return version;
  if (findOnPath("ldd") === null) return "ldd not found (needed to build a rootfs)";
  const cgroups = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .some((line) => / - cgroup2? /.test(line));
  return cgroups ? null : "no cgroup filesystem is mounted";
}

function containerdMissing(): string | null {
  for (const bin of ["/usr/bin/containerd", "/usr/bin/ctr", "/usr/sbin/runc"]) {
    if (!exists(bin)) {
      return `${bin} missing (scripts/setup.sh installs Debian's containerd and runc)`;
    }
  }
  if (!exists("/usr/bin/ldd")) return "ldd missing (needed to build the image rootfs)";
  return null;
}

/** Null when `cmd args` runs and succeeds; otherwise `why` (with the failure when it ran). */
function runs(cmd: string, args: string[], why: string): string | null {
  try {
    const out = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
    if (out.success) return null;
    return `${why}: ${cmd} ${args.join(" ")} failed: ${
      new TextDecoder().decode(out.stderr).trim()
    }`;
  } catch {
    return why;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH, or null. */
export function findOnPath(name: string): string | null {
  const dirs = (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  for (const dir of dirs) {
    if (dir === "") continue;
    try {
      const st = Deno.statSync(`${dir}/${name}`);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // not in this directory
    }
  }
  return null;
}
