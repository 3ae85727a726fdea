/**
 * `vigil probe` as a user runs it: a `deno run --allow-all main.ts probe` subprocess. Failure
 * cases (no BTF, no privileges, no libbpf) run the subprocess in a private mount namespace or with
 * capabilities dropped, so the host is never changed.
 */
import assert from "node:assert/strict";
import { FEATURE_NAMES } from "../../src/kernel/types.ts";
import { requires } from "../_helpers/requires.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = Deno.execPath();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `prefix... deno run --allow-all main.ts probe args...` from the repository root. */
function vigil(args: string[], prefix: string[] = []): Result {
  const argv = [...prefix, DENO, "run", "--allow-all", "main.ts", "probe", ...args];
  const out = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

function assertOneErrorLine(r: Result, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, pattern);
}

Deno.test(requires("vigil probe --json prints one JSON report and exits 0", "root"), () => {
  const r = vigil(["--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trimEnd().split("\n").length, 1, "one line");
  const report = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(report).sort(), [
    "bpfStats",
    "btf",
    "cgroup",
    "features",
    "kernelConfig",
    "kernelRelease",
    "libbpf",
    "lsm",
    "mounts",
  ]);
  assert.equal(report.kernelRelease, Deno.osRelease());
  assert.equal(typeof report.btf.readable, "boolean");
  assert.ok(["v1", "v2", "hybrid", null].includes(report.cgroup.mode));
  assert.ok(["embedded", "host"].includes(report.libbpf.source));
  assert.equal(typeof report.libbpf.version, "string");
  assert.ok([true, false, null].includes(report.bpfStats.enabled));
  assert.ok(report.lsm.active === null || Array.isArray(report.lsm.active));
  assert.ok(Array.isArray(report.mounts));
  for (const m of report.mounts) {
    assert.ok(["tracefs", "securityfs"].includes(m.fsType));
    assert.ok(["already", "mounted", "failed"].includes(m.state));
  }
  assert.deepEqual(Object.keys(report.features), [...FEATURE_NAMES]);
  for (const [name, f] of Object.entries<Record<string, unknown>>(report.features)) {
    assert.equal(f.name, name);
    assert.ok([true, false, null].includes(f.supported as boolean | null), name);
    assert.ok(["precheck", "load", "attach", null].includes(f.stage as string | null), name);
    assert.equal(typeof f.reason, "string");
    assert.ok((f.reason as string).length > 0);
    if ("errno" in f) assert.equal(typeof f.errno, "number");
    if ("logTail" in f) assert.equal(typeof f.logTail, "string");
  }
});

Deno.test(requires("vigil probe prints one table row per feature", "root"), () => {
  const r = vigil([]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  for (const name of FEATURE_NAMES) {
    assert.ok(
      lines.some((l) => new RegExp(`^${name}\\s+(yes|no|unknown)\\s+`).test(l)),
      `row for ${name}`,
    );
  }
  assert.ok(lines.some((l) => /^kernel\s+/.test(l)));
});

Deno.test("vigil probe rejects an unknown flag with one line and exit 2", () => {
  const r = vigil(["--bogus"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^vigil probe: Unknown option '--bogus'.*\n$/);
});

Deno.test(requires("vigil probe without kernel BTF says so in one line", "root"), () => {
  // A private mount namespace with an empty tmpfs over /sys/kernel/btf.
  const r = vigil([], [
    "unshare",
    "-m",
    "sh",
    "-c",
    'mount -t tmpfs none /sys/kernel/btf && exec "$@"',
    "sh",
  ]);
  assertOneErrorLine(
    r,
    /^vigil probe: kernel has no BTF at \/sys\/kernel\/btf\/vmlinux; vigil needs CONFIG_DEBUG_INFO_BTF=y$/,
  );
});

Deno.test(requires("vigil probe without BPF capabilities says so in one line", "root"), () => {
  const r = vigil([], ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]);
  assertOneErrorLine(
    r,
    /^vigil probe: needs CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\): run vigil as root$/,
  );
});

Deno.test(
  requires("vigil probe --host-libbpf without a usable host libbpf says so in one line", "root"),
  () => {
    const soname = `/usr/lib/${Deno.build.arch}-linux-gnu/libbpf.so.1`;
    let prefix: string[] = [];
    try {
      // A private mount namespace where the host's libbpf is an empty file.
      const hide = `mount --bind /dev/null ${Deno.realPathSync(soname)} && exec "$@"`;
      prefix = ["unshare", "-m", "sh", "-c", hide, "sh"];
    } catch {
      // No host libbpf at all: nothing to hide.
    }
    const r = vigil(["--host-libbpf"], prefix);
    assertOneErrorLine(r, /^vigil probe: the host's libbpf\.so\.1 cannot be loaded .*libbpf1/);
  },
);
