/**
 * The probe's temporary mounts (securityfs, tracefs) against the real mount table: whatever the
 * probe mounts it unmounts, and what was mounted before stays. Needs root (mount(2)).
 */
import assert from "node:assert/strict";
import { openLibc } from "../../src/ffi/libc.ts";
import { readLsmFacts } from "../../src/kernel/lsm.ts";
import {
  isMounted,
  type PseudoFs,
  SECURITYFS,
  TRACEFS,
  withPseudoFs,
} from "../../src/kernel/mounts.ts";
import { requires } from "../_helpers/requires.ts";

/** The mounts under /sys/kernel, as "target fstype" lines (what the probe may touch). */
function sysKernelMounts(): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((line) => {
      const fields = line.split(" ");
      return `${fields[4]} ${fields[fields.indexOf("-") + 1]}`;
    })
    .filter((entry) => entry.startsWith("/sys/kernel/"))
    .sort();
}

/** Mounts or unmounts with the system tools, independently of the module under test. */
function run(cmd: string, ...args: string[]): void {
  const out = new Deno.Command(cmd, { args, stderr: "piped" }).outputSync();
  assert.ok(out.success, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

for (const fs of [SECURITYFS, TRACEFS]) {
  Deno.test(
    requires(
      `withPseudoFs() mounts ${fs.fsType} only for fn and leaves the mount table as it was`,
      "root",
    ),
    () => {
      using libc = disposableLibc();
      const before = sysKernelMounts();
      const wasMounted = isMounted(fs);
      const seen = withPseudoFs(libc.symbols, fs, (mount) => {
        assert.equal(isMounted(fs), true, "mounted while fn runs");
        return mount;
      });
      assert.equal(seen.state, wasMounted ? "already" : "mounted");
      assert.deepEqual(sysKernelMounts(), before);
    },
  );
}

Deno.test(requires("withPseudoFs() keeps a mount that was there before", "root"), () => {
  using libc = disposableLibc();
  const wasMounted = isMounted(SECURITYFS);
  if (!wasMounted) run("mount", "-t", "securityfs", "securityfs", SECURITYFS.target);
  try {
    const before = sysKernelMounts();
    const state = withPseudoFs(libc.symbols, SECURITYFS, (mount) => mount.state);
    assert.equal(state, "already");
    assert.deepEqual(sysKernelMounts(), before);
    assert.equal(isMounted(SECURITYFS), true);
  } finally {
    if (!wasMounted) run("umount", SECURITYFS.target);
  }
});

Deno.test(requires("withPseudoFs() unmounts what it mounted when fn throws", "root"), () => {
  using libc = disposableLibc();
  const before = sysKernelMounts();
  assert.throws(
    () =>
      withPseudoFs(libc.symbols, TRACEFS, () => {
        throw new Error("boom");
      }),
    /boom/,
  );
  assert.deepEqual(sysKernelMounts(), before);
});

Deno.test(
  requires("withPseudoFs() still runs fn, with the reason, when mounting fails", "root"),
  () => {
    using libc = disposableLibc();
    const nowhere: PseudoFs = { fsType: "tracefs", target: "/nonexistent/vigil-probe" };
    const before = sysKernelMounts();
    const mount = withPseudoFs(libc.symbols, nowhere, (m) => m);
    assert.equal(mount.state, "failed");
    assert.equal(
      mount.error,
      "mount -t tracefs on /nonexistent/vigil-probe failed: ENOENT (2)",
    );
    assert.deepEqual(sysKernelMounts(), before);
  },
);

Deno.test(
  requires("readLsmFacts() reads the LSM list and leaves the mount table as it was", "root"),
  () => {
    using libc = disposableLibc();
    const before = sysKernelMounts();
    const wasMounted = isMounted(SECURITYFS);
    const { lsm, mount } = readLsmFacts(libc.symbols);
    assert.deepEqual(sysKernelMounts(), before);
    assert.equal(mount.state, wasMounted ? "already" : "mounted");
    assert.ok(lsm.active && lsm.active.length > 0, `LSM list: ${lsm.error}`);
    assert.equal(lsm.bpfListed, lsm.active.includes("bpf"));
  },
);

function disposableLibc() {
  const libc = openLibc();
  return { symbols: libc.symbols, [Symbol.dispose]: () => libc.close() };
}
