/**
 * Load (verification included) and attach time of each policy entry program on this kernel: the
 * tracepoint program, kprobe, kretprobe, fentry, fexit, fmod_ret and BPF LSM. Each is loaded
 * twice (the first load also parses the kernel's BTF for CO-RE) and attached once, to targets
 * every supported kernel has (syscalls/sys_enter_getpgid, __x64_sys_getpgid,
 * security_task_setnice, the LSM hook task_setnice). A program the kernel refuses prints the
 * refusal instead of a time.
 *
 * Run: `deno run -A bench/policy_program_load.ts` (root); in the lab:
 * `deno task lab --kernel 6.1 -- deno run -A bench/policy_program_load.ts`. Under emulation the
 * times are indicative only.
 *
 * @module
 */

import { BpfObject } from "../src/bpf/object.ts";
import { POLICY_OBJECTS } from "../src/bpf/objects.ts";
import { openBpfRuntime } from "../src/bpf/runtime.ts";
import { silentLogger } from "../src/log/logger.ts";

interface Case {
  readonly object: string;
  readonly program: string;
  readonly others: readonly string[];
  readonly target?: string;
  attach(o: BpfObject): { close(): void };
}

const CASES: readonly Case[] = [
  {
    object: "policy_tracepoint.bpf.o",
    program: "vigil_policy",
    others: [],
    attach: (o) => o.attachTracepoint("vigil_policy", "syscalls", "sys_enter_getpgid", 1n),
  },
  {
    object: "policy_kprobe.bpf.o",
    program: "vigil_kprobe",
    others: ["vigil_kretprobe", "vigil_kprobe_entry"],
    attach: (o) => o.attachKprobe("vigil_kprobe", "__x64_sys_getpgid", false),
  },
  {
    object: "policy_kprobe.bpf.o",
    program: "vigil_kretprobe",
    others: ["vigil_kprobe", "vigil_kprobe_entry"],
    attach: (o) => o.attachKprobe("vigil_kretprobe", "__x64_sys_getpgid", true),
  },
  {
    object: "policy_fentry.bpf.o",
    program: "vigil_fentry",
    others: ["vigil_fexit", "vigil_fmod_ret"],
    target: "__x64_sys_getpgid",
    attach: (o) => o.attach("vigil_fentry"),
  },
  {
    object: "policy_fentry.bpf.o",
    program: "vigil_fexit",
    others: ["vigil_fentry", "vigil_fmod_ret"],
    target: "__x64_sys_getpgid",
    attach: (o) => o.attach("vigil_fexit"),
  },
  {
    object: "policy_fentry.bpf.o",
    program: "vigil_fmod_ret",
    others: ["vigil_fentry", "vigil_fexit"],
    target: "security_task_setnice",
    attach: (o) => o.attach("vigil_fmod_ret"),
  },
  {
    object: "policy_lsm.bpf.o",
    program: "vigil_lsm",
    others: [],
    target: "task_setnice",
    attach: (o) => o.attach("vigil_lsm"),
  },
];

function load(rt: ReturnType<typeof openBpfRuntime>, c: Case): { object: BpfObject; ms: number } {
  const started = performance.now();
  const object = BpfObject.load(rt, POLICY_OBJECTS[c.object]!, {
    name: c.object,
    autoload: Object.fromEntries([[c.program, true], ...c.others.map((p) => [p, false])]),
    ...(c.target === undefined ? {} : { attachTargets: { [c.program]: c.target } }),
  });
  return { object, ms: performance.now() - started };
}

const rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
const kernel = Deno.osRelease();
const rows: string[] = [];
for (const c of CASES) {
  const times: string[] = [];
  let attach = "";
  try {
    for (let round = 0; round < 2; round++) {
      const { object, ms } = load(rt, c);
      times.push(ms.toFixed(0));
      if (round === 1) {
        const started = performance.now();
        try {
          const link = c.attach(object);
          attach = `${(performance.now() - started).toFixed(0)} ms`;
          link.close();
        } catch (err) {
          attach = `refused: ${err instanceof Error ? err.message.split("\n")[0] : err}`;
        }
      }
      object.close();
    }
  } catch (err) {
    attach = `load refused: ${err instanceof Error ? err.message.split("\n")[0] : err}`;
  }
  rows.push(
    `${c.program.padEnd(16)} ${(times[0] ?? "-").padStart(8)} ${
      (times[1] ?? "-").padStart(8)
    }  ${attach}`,
  );
}
rt.close();
// deno-lint-ignore no-console
console.log(
  `kernel ${kernel}: policy entry programs, load ms (1st, 2nd) and attach\n` +
    `${"program".padEnd(16)} ${"1st".padStart(8)} ${"2nd".padStart(8)}  attach\n${rows.join("\n")}`,
);
