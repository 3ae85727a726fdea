import assert from "node:assert/strict";
import { FIXTURE_DIR, FIXTURE_NAMES, loadFixture } from "./_fixtures.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function vigil(...args: string[]) {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

function offline(name: string, ...extra: string[]) {
  const dir = `${FIXTURE_DIR}${name}`;
  return vigil(
    "cgroup",
    "resolve",
    "--mountinfo",
    `${dir}/mountinfo`,
    "--proc-cgroup",
    `${dir}/cgroup`,
    "--cgroups",
    `${dir}/cgroups`,
    ...extra,
  );
}

function keys(value: unknown): string[] {
  return Object.keys(value as object).sort();
}

Deno.test("vigil cgroup resolve --json on captured files prints the documented shape", () => {
  for (const name of FIXTURE_NAMES) {
    const out = offline(name, "--json");
    assert.equal(out.code, 0, `${name}: ${out.stderr}`);
    assert.equal(out.stdout.trim().split("\n").length, 1, "one JSON line");
    const report = JSON.parse(out.stdout);
    assert.deepEqual(keys(report), ["candidates", "container", "mode", "root"]);
    assert.ok(["v1", "v2", "hybrid"].includes(report.mode));
    if (report.root !== null) {
      assert.deepEqual(keys(report.root), ["controller", "fstype", "mountpoint"]);
      assert.equal(report.root.controller === null, report.mode === "v2");
    }
    assert.ok(report.candidates.length > 0, name);
    for (const c of report.candidates) {
      assert.deepEqual(keys(c), ["accepted", "fstype", "mountpoint", "reason", "root"]);
      assert.equal(typeof c.accepted, "boolean");
    }
    // Offline, the container comes from the chosen hierarchy's line of the captured cgroup file.
    assert.deepEqual(report.container, loadFixture(name).expected.container, name);
  }
});

Deno.test("vigil cgroup resolve --json reports the offline decision on the TAS layout", () => {
  const report = JSON.parse(offline("tas_hybrid_reverse", "--json").stdout);
  assert.deepEqual(report.root, {
    mountpoint: "/sys/fs/cgroup/memory",
    fstype: "cgroup",
    controller: "memory",
  });
  const memory = report.candidates.find((c: { mountpoint: string }) =>
    c.mountpoint === "/sys/fs/cgroup/memory"
  );
  assert.match(
    memory.reason,
    /^accepted offline: .*inode and namespace checks skipped \(offline\)$/,
  );
  assert.deepEqual(report.container, {
    runtime: "garden",
    id: "6f265890-5165-7fab-6b52-18d1",
    podUid: null,
    isRoot: true,
  });
});

Deno.test("vigil cgroup resolve --json has a null root when only a pod's cgroupfs is mounted", () => {
  const report = JSON.parse(offline("eks_al2023_v2_pod", "--json").stdout);
  assert.equal(report.mode, "v2");
  assert.equal(report.root, null);
  assert.match(report.candidates[0].reason, /is a sub-tree/);
});

Deno.test("vigil cgroup resolve prints a readable decision log", () => {
  const out = offline("eks_al2_v1_pod");
  assert.equal(out.code, 0);
  assert.match(out.stdout, /^offline: captured files; live checks are skipped$/m);
  assert.match(out.stdout, /^mode: v1 \(/m);
  assert.match(out.stdout, /^target: v1 memory hierarchy \(hierarchy 2\), subsystem index 4/m);
  assert.match(
    out.stdout,
    /^ {2}REJECT {2}\/sys\/fs\/cgroup\/memory \(cgroup, root \/kubepods\.slice/m,
  );
  assert.match(out.stdout, /^ {2}ACCEPT {2}\/host\/sys\/fs\/cgroup\/memory/m);
  assert.match(
    out.stdout,
    /^root: \/host\/sys\/fs\/cgroup\/memory \(cgroup, controller memory\)$/m,
  );
  assert.match(
    out.stdout,
    /^container: containerd:\/\/0c5972fc0d0b.* pod 6795064b-0010-4189-a6fd-fcb7a661cc2c$/m,
  );
});

Deno.test("vigil cgroup resolve names an unreadable or malformed file and exits 1", () => {
  const missing = vigil("cgroup", "resolve", "--mountinfo", "/nonexistent/mountinfo");
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, "");
  assert.equal(missing.stderr.trim().split("\n").length, 1);
  assert.match(missing.stderr, /^vigil cgroup resolve: \/nonexistent\/mountinfo: /);

  const bad = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(bad, "22 27 0:21 / /proc rw - proc proc rw\nnot a mount line\n");
    const out = vigil("cgroup", "resolve", "--mountinfo", bad);
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr.trim(),
      `vigil cgroup resolve: ${bad}: mountinfo line 2: no ' - ' separator after field 6`,
    );
    Deno.writeTextFileSync(bad, "memory four 1 1\n");
    const cgroups = vigil("cgroup", "resolve", "--cgroups", bad);
    assert.equal(cgroups.code, 1);
    assert.match(cgroups.stderr, new RegExp(`^vigil cgroup resolve: ${bad}: /proc/cgroups line 1`));
  } finally {
    Deno.removeSync(bad);
  }
});

Deno.test("vigil cgroup resolve exits 2 on usage errors and 0 on --help", () => {
  const unknown = vigil("cgroup", "resolve", "--bogus");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^vigil cgroup resolve: Unknown option '--bogus'/);
  const missing = vigil("cgroup", "resolve", "--mountinfo");
  assert.equal(missing.code, 2);
  const help = vigil("cgroup", "resolve", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: vigil cgroup resolve \[--mountinfo FILE\]/);
  assert.match(help.stdout, /skipped, never\s+guessed/);
});

Deno.test("vigil cgroup resolve --json on the live system agrees with the live decision", () => {
  const out = vigil("cgroup", "resolve", "--json");
  const report = JSON.parse(out.stdout);
  // Exit 1 only when no hierarchy can be reached at all; then root must be null.
  assert.equal(out.code === 0, report.root !== null, out.stderr);
  if (report.root) {
    const accepted = report.candidates.filter((c: { accepted: boolean }) => c.accepted);
    assert.ok(
      accepted.some((c: { mountpoint: string }) => c.mountpoint === report.root.mountpoint),
    );
    assert.ok(accepted.every((c: { reason: string }) => !c.reason.includes("offline")));
  }
});
