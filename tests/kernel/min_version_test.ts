/**
 * The feature table against the running kernel (cilium/ebpf's rule): a kernel at or above a
 * feature's minimum version, built with the options the feature needs, must be probed as
 * supporting it; a kernel below the minimum must not. A refusal by policy (EPERM before
 * verification, e.g. a locked-down host) is not an absence, and the reason must say so; for BPF
 * LSM the `bpf` entry of the active LSM list is part of the requirement.
 */
import assert from "node:assert/strict";
import { readKernelConfig } from "../../src/kernel/kconfig.ts";
import { FEATURE_TABLE, kernelAtLeast } from "../../src/kernel/features_table.ts";
import { kernelReport } from "../_helpers/kernel.ts";
import { requires } from "../_helpers/requires.ts";

Deno.test("kernelAtLeast compares major.minor of a release", () => {
  assert.equal(kernelAtLeast("6.12.95+deb12-amd64", "5.18"), true);
  assert.equal(kernelAtLeast("5.10.0-46-amd64", "5.17"), false);
  assert.equal(kernelAtLeast("5.17.0", "5.17"), true);
  assert.equal(kernelAtLeast("6.1.0-57-amd64", "6.12"), false);
  assert.equal(kernelAtLeast("10.0.1", "9.99"), true);
  assert.throws(() => kernelAtLeast("weird", "5.8"), /cannot compare/);
});

const LAB_CGROUP = Deno.env.get("VIGIL_LAB_CGROUP");
const cgroupTest = requires("the probe reports the cgroup layout the lab booted with", "root");

Deno.test({
  ...(LAB_CGROUP === undefined
    ? {
      name: `${cgroupTest.name} [IGNORED: only in the kernel lab, which knows the layout]`,
      ignore: true,
    }
    : cgroupTest),
  fn() {
    // Only in the lab, where the layout is known from outside the code under test.
    assert.equal(kernelReport().cgroup.mode, LAB_CGROUP, kernelReport().cgroup.evidence);
  },
});

for (const row of FEATURE_TABLE) {
  Deno.test({
    ...requires(`probe agrees with the table: ${row.name} (since ${row.minKernel})`, "root"),
    fn() {
      const report = kernelReport();
      const result = report.features[row.name];
      const release = report.kernelRelease;
      const config = readKernelConfig(release);
      const facts = `kernel ${release}, probe said ${result.supported}: ${result.reason}`;
      if (!kernelAtLeast(release, row.minKernel)) {
        assert.notEqual(result.supported, true, `${row.name} needs ${row.minKernel}+; ${facts}`);
        return;
      }
      assert.ok(config !== null, `no kernel config to check ${row.name} against (${facts})`);
      const unset = row.config.filter((option) => !config.enabled(option));
      if (unset.length > 0) {
        assert.notEqual(
          result.supported,
          true,
          `CONFIG_${unset.join(", CONFIG_")} unset; ${facts}`,
        );
        return;
      }
      if (row.name === "lsm" && report.lsm.bpfListed !== true) {
        assert.equal(result.supported, false, facts);
        assert.match(result.reason, /bpf is not listed in \/sys\/kernel\/security\/lsm/);
        return;
      }
      if (
        result.supported !== true && result.errno === 1 && /kernel's policy/.test(result.reason)
      ) {
        // Refused, not absent: the kernel has the feature but does not let vigil use it here.
        return;
      }
      assert.equal(result.supported, true, `${row.name} is due on ${row.minKernel}+; ${facts}`);
    },
  });
}
