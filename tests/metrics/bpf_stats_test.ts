/**
 * BPF program statistics on the real kernel: the struct bpf_prog_info offsets against the running
 * kernel's BTF, run counts and run time of a real attached program with statistics held on by
 * bpf_enable_stats, and nothing counted once the fd is closed. Needs root and the built objects.
 */
import assert from "node:assert/strict";
import { BpfObject } from "../../src/bpf/object.ts";
import { PROCESS_OBJECT } from "../../src/bpf/objects.ts";
import { openBpfRuntime } from "../../src/bpf/runtime.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { listAllPrograms, openBpfProgramStats, PROG_INFO } from "../../src/metrics/bpf_stats.ts";
import { requires } from "../_helpers/requires.ts";

const SYSCTL = "/proc/sys/kernel/bpf_stats_enabled";

function bpftoolStruct(name: string): { size: number; offsets: Map<string, number> } | null {
  let out;
  try {
    out = new Deno.Command("bpftool", {
      args: ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "raw"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
  } catch {
    return null;
  }
  if (!out.success) return null;
  const lines = new TextDecoder().decode(out.stdout).split("\n");
  const at = lines.findIndex((l) => l.includes(`STRUCT '${name}' size=`));
  if (at < 0) return null;
  const size = Number(/size=(\d+)/.exec(lines[at]!)![1]);
  const offsets = new Map<string, number>();
  for (const l of lines.slice(at + 1)) {
    const m = /^\s+'(\w+)' type_id=\d+ bits_offset=(\d+)/.exec(l);
    if (!m) break;
    offsets.set(m[1]!, Number(m[2]) / 8);
  }
  return { size, offsets };
}

Deno.test("PROG_INFO offsets match the pinned vmlinux.h field order and the running kernel's BTF", () => {
  const header = Deno.readTextFileSync(
    new URL("../../bpf/include/vmlinux/x86/vmlinux.h", import.meta.url),
  );
  const body = /struct bpf_prog_info \{\n([\s\S]*?)\n\};/.exec(header)?.[1];
  assert.ok(body, "struct bpf_prog_info in the pinned vmlinux.h");
  const fields = body.split("\n").map((l) => /(\w+)(\[\d+\])?(: \d+)?;$/.exec(l.trim())?.[1]);
  assert.ok(fields.indexOf("run_time_ns") > fields.indexOf("name"));
  assert.equal(fields.indexOf("run_cnt"), fields.indexOf("run_time_ns") + 1);
  assert.equal(fields.indexOf("recursion_misses"), fields.indexOf("run_cnt") + 1);

  const btf = bpftoolStruct("bpf_prog_info");
  if (btf === null) return; // no bpftool: the field-order check above still ran
  assert.equal(btf.offsets.get("id"), PROG_INFO.id);
  assert.equal(btf.offsets.get("name"), PROG_INFO.name);
  assert.equal(btf.offsets.get("run_time_ns"), PROG_INFO.runTimeNs);
  assert.equal(btf.offsets.get("run_cnt"), PROG_INFO.runCount);
  assert.equal(btf.offsets.get("recursion_misses"), PROG_INFO.recursionMisses);
  assert.ok(btf.size >= PROG_INFO.size);
});

function execTrue(times: number): void {
  for (let i = 0; i < times; i++) new Deno.Command("/bin/true").outputSync();
}

Deno.test(
  requires("openBpfProgramStats() counts runs and run time of a real attached program", "root"),
  () => {
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    using obj = BpfObject.load(rt, PROCESS_OBJECT, {
      name: "process.bpf.o",
      maxEntries: { events: 1 << 20 },
    });
    const link = obj.attach("vigil_exec");
    try {
      const fd = obj.programFd("vigil_exec");
      const sysctlOn = Deno.readTextFileSync(SYSCTL).trim() === "1";
      const stats = openBpfProgramStats({
        libbpf: rt.libbpf,
        libc: rt.libc,
        programs: () => [{ fd, name: "vigil_exec", policy: "test-policy" }],
      });
      try {
        assert.equal(stats.enabled, true);
        assert.equal(stats.switch, "fd");
        const before = stats.list();
        assert.equal(before.length, 1);
        execTrue(20);
        const after = stats.list()[0]!;
        assert.equal(after.name, "vigil_exec");
        assert.equal(after.policy, "test-policy");
        assert.ok(after.id > 0);
        assert.ok(after.runCount - before[0]!.runCount >= 20n, `runs: ${after.runCount}`);
        assert.ok(after.runTimeNs > before[0]!.runTimeNs, "run time grows");
        assert.equal(after.recursionMisses, 0n);

        const all = listAllPrograms(rt.libbpf, rt.libc);
        const mine = all.find((p) => p.id === after.id);
        assert.ok(mine, "listAllPrograms() sees the program");
        assert.equal(mine.name, "vigil_exec"); // kernel name (15 characters max)
      } finally {
        stats.close();
      }

      // Statistics off (our fd closed, sysctl untouched): run time no longer grows.
      const off = openBpfProgramStats({
        libbpf: rt.libbpf,
        libc: rt.libc,
        enable: false,
        programs: () => [{ fd }],
      });
      if (!sysctlOn) {
        assert.equal(off.enabled, false);
        assert.equal(off.switch, "off");
        // Statistics are one kernel-wide switch: another agent or test holding its own
        // bpf_enable_stats fd in the meantime turns them back on, so the check only stands when
        // the switch read off on both sides of the window.
        const offBefore = Deno.readTextFileSync(SYSCTL).trim() === "0";
        const t0 = off.list()[0]!.runTimeNs;
        execTrue(10);
        const t1 = off.list()[0]!.runTimeNs;
        const offAfter = Deno.readTextFileSync(SYSCTL).trim() === "0";
        if (offBefore && offAfter) assert.equal(t1, t0);
      }
      off.close();
    } finally {
      link.close();
    }
  },
);

Deno.test(requires("a program fd that is not a program is skipped, not thrown", "root"), () => {
  using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
  const stats = openBpfProgramStats({
    libbpf: rt.libbpf,
    libc: rt.libc,
    enable: false,
    programs: () => [{ fd: 999_999 }],
  });
  assert.deepEqual(stats.list(), []);
  stats.close();
});
