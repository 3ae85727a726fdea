/**
 * The embedded libbpf (src/ffi/native_libs.ts) against the libraries staged in dist/native/.
 *
 * Everything that loads native code runs in a `deno run` subprocess, so this process maps nothing
 * and this file does not import native_libs.ts: without a build the tests fail with a message
 * saying so, rather than the whole run failing to resolve `dist/native/*`. The "host without
 * libbpf" cases run the subprocess in a private mount namespace whose library directory is an
 * overlay with the libraries deleted; the host's files are untouched.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const NATIVE_DIR = new URL("dist/native/", ROOT);
const MODULE = new URL("src/ffi/native_libs.ts", ROOT);
/** Load order, as the manifest lists them. */
const SONAMES = ["libz.so.1", "libelf.so.1", "libbpf.so.1"];

interface StagedLib {
  soname: string;
  source: string;
  sha256: string;
  size: number;
  glibc: string;
}

interface StagedManifest {
  glibcFloor: string;
  libs: StagedLib[];
}

/** The staged manifest; throws (failing the test) with the fix when the build has not run. */
function readStagedManifest(): StagedManifest {
  const missing = [...SONAMES, "manifest.json"].filter((name) =>
    !isFile(new URL(name, NATIVE_DIR))
  );
  if (missing.length > 0) {
    throw new Error(
      `dist/native/ lacks ${missing.join(", ")}: run 'deno task build' ` +
        `(or 'bash scripts/stage_native_libs.sh') before the tests`,
    );
  }
  return JSON.parse(Deno.readTextFileSync(new URL("manifest.json", NATIVE_DIR)));
}

function isFile(url: URL): boolean {
  try {
    return Deno.statSync(url).isFile;
  } catch {
    return false;
  }
}

/** The directory the host's libraries live in, e.g. /usr/lib/x86_64-linux-gnu. */
function hostLibDir(manifest: StagedManifest): string {
  const libbpf = manifest.libs.find((lib) => lib.soname === "libbpf.so.1");
  assert.ok(libbpf, "manifest has no libbpf.so.1");
  return libbpf.source.slice(0, libbpf.source.lastIndexOf("/"));
}

/** How the subprocess sees the host's libbpf, libelf and libz. */
type HostLibs = "present" | "absent" | "broken";

// Runs its arguments in the mount namespace it was started in, after hiding the libraries:
// "absent" deletes them from an overlay of the library directory, "broken" binds /dev/null over
// libbpf.so.1 (the loader then finds a file that is not an ELF object).
const HIDE_SCRIPT = `
set -eu
mode=$1 dir=$2
shift 2
if [ "$mode" = absent ]; then
  scratch=$(mktemp -d)
  mount -t tmpfs vigil-test "$scratch"
  mkdir "$scratch/upper" "$scratch/work"
  mount -t overlay overlay -o "lowerdir=$dir,upperdir=$scratch/upper,workdir=$scratch/work" "$dir"
  rm -f "$dir"/libbpf.so* "$dir"/libelf.so* "$dir"/libelf-* "$dir"/libz.so*
  ! ls "$dir"/libbpf.so* "$dir"/libelf.so* "$dir"/libz.so* >/dev/null 2>&1
else
  mount --bind /dev/null "$dir/libbpf.so.1"
fi
exec "$@"
`;

function hidingCommand(hostLibs: Exclude<HostLibs, "present">, libDir: string): string[] {
  return ["unshare", "--mount", "--propagation", "private", "bash", "-c", HIDE_SCRIPT, "bash"]
    .concat(hostLibs, libDir);
}

// Deno cannot skip from inside a test: probe once whether namespaces and overlays work here.
const CAN_HIDE = await (async () => {
  if (Deno.uid() !== 0) return false;
  try {
    const dir = "/usr/lib";
    const { success } = await new Deno.Command(hidingCommand("absent", dir)[0]!, {
      args: [...hidingCommand("absent", dir).slice(1), "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
})();

// The subprocess: loads libbpf the requested way, calls into it, and reports what got mapped.
const PROBE = `
import { describeLibbpfLoadError, loadNativeLibs } from "${MODULE.href}";

const out = (text) => Deno.stdout.writeSync(new TextEncoder().encode(text + "\\n"));
const mode = Deno.args[0];
if (mode === "describe") {
  const samples = [
    ["host", "libbpf.so.1: cannot open shared object file: No such file or directory"],
    ["host", "libbpf.so.1: file too short"],
    ["embedded", "/proc/self/fd/23: version \`GLIBC_2.99' not found (required by /proc/self/fd/23)"],
    ["embedded", "/proc/self/fd/23: invalid ELF header"],
  ];
  out(JSON.stringify(samples.map(([source, msg]) => describeLibbpfLoadError(new Error(msg), source))));
  Deno.exit(0);
}
const libs = loadNativeLibs({ useHost: mode === "host" });
let lib;
try {
  lib = Deno.dlopen(libs.libbpfPath, {
    libbpf_major_version: { parameters: [], result: "u32" },
    libbpf_minor_version: { parameters: [], result: "u32" },
  });
} catch (err) {
  Deno.stderr.writeSync(new TextEncoder().encode(describeLibbpfLoadError(err, libs.source) + "\\n"));
  libs.close();
  Deno.exit(3);
}
const version = lib.symbols.libbpf_major_version() + "." + lib.symbols.libbpf_minor_version();
if (mode === "minimal") {
  lib.close();
  libs.close();
  out(JSON.stringify({ source: libs.source, version }));
  Deno.exit(0);
}
const mapped = Deno.readTextFileSync("/proc/self/maps").split("\\n")
  .map((line) => line.split(/\\s+/).slice(5).join(" "))
  .filter((path) => /\\/(memfd:)?lib(bpf|elf|z)[.-]/.test(path));
let writeError = "none";
if (libs.source === "embedded") {
  try {
    Deno.writeFileSync(libs.libbpfPath, new Uint8Array(1));
  } catch (err) {
    writeError = err.name;
  }
}
lib.close();
libs.close();
const memfdsLeft = [...Deno.readDirSync("/proc/self/fd")]
  .map((entry) => { try { return Deno.readLinkSync("/proc/self/fd/" + entry.name); } catch { return ""; } })
  .filter((target) => target.startsWith("/memfd:"));
out(JSON.stringify({ source: libs.source, path: libs.libbpfPath, version, mapped: [...new Set(mapped)], writeError, memfdsLeft }));
`;

interface ProbeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the probe script in a fresh `deno run`. Reading /proc/self/maps and writing to a memfd need
 * --allow-all in Deno (it guards /proc/<pid>/); "minimal" mode runs with --allow-ffi alone, as a
 * narrowly permitted agent would load libbpf.
 */
async function runProbe(
  mode: "embedded" | "host" | "describe" | "minimal",
  hostLibs: HostLibs,
): Promise<ProbeResult> {
  const manifest = readStagedManifest();
  const dir = await Deno.makeTempDir({ prefix: "vigil_native_libs_" });
  try {
    const script = `${dir}/probe.js`;
    await Deno.writeTextFile(script, PROBE);
    const deno = [
      Deno.execPath(),
      "run",
      "--no-lock",
      "--config",
      new URL("deno.json", ROOT).pathname,
      mode === "minimal" ? "--allow-ffi" : "--allow-all",
      script,
      mode,
    ];
    const argv = hostLibs === "present"
      ? deno
      : [...hidingCommand(hostLibs, hostLibDir(manifest)), ...deno];
    const out = await new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Loaded {
  source: string;
  path: string;
  version: string;
  mapped: string[];
  writeError: string;
  memfdsLeft: string[];
}

function parseLoaded(result: ProbeResult): Loaded {
  assert.deepStrictEqual(result.code, 0, `probe failed:\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

function assertAllFromMemfds(loaded: Loaded, libDir: string): void {
  assert.deepStrictEqual(loaded.source, "embedded");
  assert.match(loaded.path, /^\/proc\/self\/fd\/\d+$/);
  assert.deepStrictEqual(loaded.version, "1.1");
  for (const name of ["libz.so.1", "libelf.so.1", "libbpf.so.1"]) {
    assert.ok(
      loaded.mapped.some((path) => path.startsWith(`/memfd:${name}`)),
      `${name} is not mapped from a memfd: ${loaded.mapped.join(", ")}`,
    );
  }
  const fromDisk = loaded.mapped.filter((path) => path.startsWith(`${libDir}/`));
  assert.deepStrictEqual(fromDisk, [], "libraries were loaded from the host");
  assert.deepStrictEqual(loaded.writeError, "PermissionDenied", "the libbpf memfd is not sealed");
  assert.deepStrictEqual(loaded.memfdsLeft, [], "close() left memfds open");
}

Deno.test("stage_native_libs.sh staged libz, libelf and libbpf as the manifest records them", async () => {
  const manifest = readStagedManifest();
  assert.deepStrictEqual(manifest.libs.map((lib) => lib.soname), SONAMES);
  for (const lib of manifest.libs) {
    const bytes = await Deno.readFile(new URL(lib.soname, NATIVE_DIR));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.deepStrictEqual({ sha256: hex, size: bytes.length }, {
      sha256: lib.sha256,
      size: lib.size,
    });
  }
});

Deno.test("manifest glibcFloor is the highest GLIBC_ version objdump -T reports", async () => {
  const manifest = readStagedManifest();
  const highest = (versions: string[]) =>
    versions.sort((a, b) => {
      const pa = a.split(".").map(Number);
      const pb = b.split(".").map(Number);
      for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        const d = (pa[i] ?? 0) - (pb[i] ?? 0);
        if (d !== 0) return d;
      }
      return 0;
    }).at(-1);
  const perLib: string[] = [];
  for (const lib of manifest.libs) {
    const out = await new Deno.Command("objdump", {
      args: ["-T", new URL(lib.soname, NATIVE_DIR).pathname],
    }).output();
    assert.ok(out.success, `objdump -T ${lib.soname} failed`);
    const versions = [...new TextDecoder().decode(out.stdout).matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)]
      .map((m) => m[1]!);
    const max = highest(versions);
    assert.deepStrictEqual(lib.glibc, max, `${lib.soname}`);
    perLib.push(lib.glibc);
  }
  assert.deepStrictEqual(manifest.glibcFloor, highest(perLib));
});

Deno.test("loadNativeLibs() embedded: libbpf, libelf and libz come from sealed memfds", async () => {
  const manifest = readStagedManifest();
  assertAllFromMemfds(parseLoaded(await runProbe("embedded", "present")), hostLibDir(manifest));
});

Deno.test("loadNativeLibs() embedded needs only --allow-ffi", async () => {
  const result = await runProbe("minimal", "present");
  assert.deepStrictEqual(result.code, 0, result.stderr);
  assert.deepStrictEqual(JSON.parse(result.stdout), { source: "embedded", version: "1.1" });
});

Deno.test("loadNativeLibs() host: dlopen finds the host's libbpf.so.1 by soname", async () => {
  const manifest = readStagedManifest();
  const loaded = parseLoaded(await runProbe("host", "present"));
  assert.deepStrictEqual({ source: loaded.source, path: loaded.path }, {
    source: "host",
    path: "libbpf.so.1",
  });
  assert.ok(loaded.mapped.some((path) => path.startsWith(`${hostLibDir(manifest)}/libbpf.so`)));
});

Deno.test({
  name: "loadNativeLibs() embedded works on a host without libbpf, libelf and libz",
  ignore: !CAN_HIDE,
  async fn() {
    const manifest = readStagedManifest();
    assertAllFromMemfds(parseLoaded(await runProbe("embedded", "absent")), hostLibDir(manifest));
  },
});

Deno.test({
  name: "loadNativeLibs() host on a host without libbpf: one line naming the package and the fix",
  ignore: !CAN_HIDE,
  async fn() {
    const result = await runProbe("host", "absent");
    assert.deepStrictEqual(result.code, 3);
    assert.deepStrictEqual(
      result.stderr,
      "libbpf.so.1 not found on this host; install the libbpf1 package, or drop --host-libbpf " +
        "(and VIGIL_LIBBPF=host) to use the embedded copy\n",
    );
  },
});

Deno.test({
  name: "loadNativeLibs() host with a libbpf.so.1 that is not a library: one line with the reason",
  ignore: !CAN_HIDE,
  async fn() {
    const result = await runProbe("host", "broken");
    assert.deepStrictEqual(result.code, 3);
    assert.match(
      result.stderr,
      /^the host's libbpf\.so\.1 cannot be loaded \(.*libbpf\.so\.1: .+\); install the libbpf1 package, or drop --host-libbpf .*\n$/,
    );
    const embedded = parseLoaded(await runProbe("embedded", "broken"));
    assert.deepStrictEqual(embedded.source, "embedded");
  },
});

Deno.test("describeLibbpfLoadError() names what is missing and the fix", async () => {
  const result = await runProbe("describe", "present");
  assert.deepStrictEqual(result.code, 0, result.stderr);
  assert.deepStrictEqual(JSON.parse(result.stdout), [
    "libbpf.so.1 not found on this host; install the libbpf1 package, or drop --host-libbpf " +
    "(and VIGIL_LIBBPF=host) to use the embedded copy",
    "the host's libbpf.so.1 cannot be loaded (libbpf.so.1: file too short); install the libbpf1 " +
    "package, or drop --host-libbpf (and VIGIL_LIBBPF=host) to use the embedded copy",
    "the embedded libbpf needs glibc >= 2.99, newer than this host's; install the libbpf1 package " +
    "and run with --host-libbpf",
    "the embedded libbpf cannot be loaded (the embedded copy: invalid ELF header); rebuild with " +
    "'deno task build' or run with --host-libbpf to use the host's libbpf1",
  ]);
});
