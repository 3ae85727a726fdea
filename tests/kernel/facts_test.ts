import assert from "node:assert/strict";
import { readBpfStats, readBtfFacts, readCgroupFacts } from "../../src/kernel/host.ts";
import { parseKernelConfig, readKernelConfig } from "../../src/kernel/kconfig.ts";
import { parseLsmFacts } from "../../src/kernel/lsm.ts";
import { hasBpfPrivileges, readEffectiveCaps } from "../../src/kernel/preflight.ts";

Deno.test("parseKernelConfig() treats y and m as set, 'is not set' and absent as not", () => {
  const config = parseKernelConfig(
    [
      "CONFIG_BPF=y",
      "CONFIG_NF_TABLES=m",
      "# CONFIG_KPROBES is not set",
      'CONFIG_LSM="landlock,lockdown,bpf"',
      "CONFIG_LOG_BUF_SHIFT=17",
    ].join("\n"),
    "test",
  );
  assert.equal(config.source, "test");
  assert.equal(config.enabled("BPF"), true);
  assert.equal(config.enabled("CONFIG_BPF"), true);
  assert.equal(config.enabled("NF_TABLES"), true);
  assert.equal(config.enabled("KPROBES"), false);
  assert.equal(config.enabled("BPF_KPROBE_OVERRIDE"), false);
  assert.equal(config.enabled("LSM"), false);
});

Deno.test("readKernelConfig() reads the running kernel's config when it has one", () => {
  const config = readKernelConfig();
  const available = ["/proc/config.gz", `/boot/config-${Deno.osRelease()}`].some((p) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  });
  assert.equal(config !== null, available);
  // Every kernel vigil runs on has the BPF syscall.
  if (config) assert.equal(config.enabled("BPF_SYSCALL"), true);
});

Deno.test("parseLsmFacts() finds bpf in the list and the bracketed lockdown mode", () => {
  assert.deepEqual(
    parseLsmFacts("lockdown,capability,landlock,bpf", "none [integrity] confidentiality\n"),
    {
      active: ["lockdown", "capability", "landlock", "bpf"],
      bpfListed: true,
      lockdown: "integrity",
    },
  );
  assert.deepEqual(parseLsmFacts("capability,selinux\n", null), {
    active: ["capability", "selinux"],
    bpfListed: false,
    lockdown: null,
  });
  assert.deepEqual(parseLsmFacts(null, null), { active: null, bpfListed: null, lockdown: null });
});

Deno.test("hasBpfPrivileges() wants CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON", () => {
  const bit = (n: bigint) => 1n << n;
  assert.equal(hasBpfPrivileges(0n), false);
  assert.equal(hasBpfPrivileges(bit(21n)), true);
  assert.equal(hasBpfPrivileges(bit(39n)), false);
  assert.equal(hasBpfPrivileges(bit(38n)), false);
  assert.equal(hasBpfPrivileges(bit(39n) | bit(38n)), true);
});

Deno.test("readEffectiveCaps() parses CapEff from a status text", () => {
  assert.equal(readEffectiveCaps("Name:\tx\nCapEff:\t000001ffffffffff\n"), 0x1ffffffffffn);
  assert.equal(readEffectiveCaps("Name:\tx\n"), null);
});

Deno.test("readBtfFacts() reports a missing file and a present one", () => {
  const missing = readBtfFacts("/nonexistent/vmlinux");
  assert.equal(missing.present, false);
  assert.equal(missing.readable, false);
  assert.match(missing.error ?? "", /ENOENT/);
  const file = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(file, "btf");
    assert.deepEqual(readBtfFacts(file), {
      path: file,
      present: true,
      readable: true,
      sizeBytes: 3,
    });
  } finally {
    Deno.removeSync(file);
  }
});

Deno.test("readBpfStats() reads the knob and explains an absent one", () => {
  const file = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(file, "1\n");
    assert.equal(readBpfStats(file).enabled, true);
    Deno.writeTextFileSync(file, "0\n");
    assert.equal(readBpfStats(file).enabled, false);
  } finally {
    Deno.removeSync(file);
  }
  const absent = readBpfStats("/nonexistent/bpf_stats_enabled");
  assert.equal(absent.enabled, null);
  assert.match(absent.detail, /ENOENT/);
});

Deno.test("readCgroupFacts() agrees with the cgroup filesystem types mounted here", () => {
  const types = new Set(
    Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .map((line) => line.split(" - ")[1]?.split(" ")[0]),
  );
  const facts = readCgroupFacts();
  assert.notEqual(facts.mode, null, facts.evidence);
  // A controller-less v1 mount (name=systemd) alone does not make v1: check only clear cases.
  if (types.has("cgroup2") && !types.has("cgroup")) assert.equal(facts.mode, "v2");
  if (types.has("cgroup") && types.has("cgroup2")) assert.notEqual(facts.mode, "v1");
  if (types.has("cgroup") && !types.has("cgroup2")) assert.notEqual(facts.mode, "hybrid");
});
