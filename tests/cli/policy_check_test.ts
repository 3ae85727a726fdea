/**
 * `vigil policy check` as a user runs it: a `deno run --allow-all main.ts policy check`
 * subprocess on the real kernel (it probes the kernel and reads tracefs formats; nothing is
 * attached). Exit 0 runnable here, 1 invalid, 3 valid but not runnable here, 2 usage.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = Deno.execPath();

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function check(args: string[], prefix: string[] = []): Result {
  const argv = [...prefix, DENO, "run", "--allow-all", "main.ts", "policy", "check", ...args];
  const out = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

function examples(): string[] {
  return [...Deno.readDirSync(`${ROOT}policies`)]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".yaml"))
    .sort()
    .map((n) => `policies/${n}`);
}

function tracefsMounts(): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) =>
    l.includes(" - tracefs ")
  );
}

interface JsonFile {
  file: string;
  valid: boolean;
  runnable: boolean;
  reason?: string;
  errors: string[];
  warnings: string[];
  plan?: {
    policyName: string;
    runnable: boolean;
    hooks: { name: string; mechanism: string | null; cost: { class: string }; why: string }[];
  };
}

interface JsonReport {
  status: number;
  kernel: {
    release: string;
    features: Record<string, { supported: boolean | null; reason: string }>;
  };
  files: JsonFile[];
}

function json(args: string[]): { code: number; report: JsonReport } {
  const r = check(["--json", ...args]);
  assert.equal(r.stdout.trimEnd().split("\n").length, 1, "one JSON line");
  return { code: r.code, report: JSON.parse(r.stdout) };
}

/** What this kernel allows the policy engine, from `vigil policy check --json`'s probe. */
function engineHere(): { engine: boolean; syscallMechanism: string } {
  const { report } = json(["policies/kill_named_binary.yaml"]);
  const works = (f: string) => report.kernel.features[f]?.supported === true;
  return {
    // The engine's programs need bpf_loop (5.17+); without it no policy runs.
    engine: works("bpf_loop"),
    // The cheapest mechanism for a syscall hook: fentry on the wrapper, else a kprobe on it,
    // else the syscall's own tracepoint.
    syscallMechanism: works("fentry")
      ? "fentry"
      : works("kprobe")
      ? "kprobe"
      : "syscall_tracepoint",
  };
}

Deno.test(
  requires("vigil policy check passes every example in policies/ on this kernel", "root"),
  () => {
    const before = tracefsMounts();
    const files = examples();
    assert.ok(files.length >= 5);
    const here = engineHere();
    const r = check(files);
    if (!here.engine) {
      // Valid everywhere, runnable nowhere: each file says why (bpf_loop).
      assert.equal(r.code, 3, r.stdout + r.stderr);
      for (const f of files) {
        assert.match(
          r.stdout,
          new RegExp(`^${f}: .*valid, NOT runnable on this kernel: .*bpf_loop`, "m"),
        );
      }
      assert.deepEqual(tracefsMounts(), before, "tracefs is left as it was found");
      return;
    }
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const f of files) {
      assert.match(
        r.stdout,
        new RegExp(`^${f}: policy "[a-z-]+" \\(enforce\\): valid, runnable on this kernel$`, "m"),
      );
    }
    assert.match(
      r.stdout,
      here.syscallMechanism === "syscall_tracepoint"
        ? /mechanism {2}syscall_tracepoint → tracepoint syscalls\/sys_enter_unlinkat/
        : new RegExp(
          `mechanism {2}${here.syscallMechanism} → ${here.syscallMechanism} __x64_sys_unlinkat`,
        ),
    );
    assert.match(r.stdout, /cost {7}negligible: sched\/sched_process_exec/);
    assert.deepEqual(tracefsMounts(), before, "tracefs is left as it was found");
  },
);

Deno.test(requires("vigil policy check --json reports the plan of each file", "root"), () => {
  const here = engineHere();
  const { code, report } = json(["policies/file_deletion.yaml", "policies/kill_named_binary.yaml"]);
  if (!here.engine) {
    assert.equal(code, 3);
    assert.ok(report.files.every((f) => f.valid && !f.runnable && /bpf_loop/.test(f.reason ?? "")));
    return;
  }
  assert.equal(code, 0);
  assert.equal(report.status, 0);
  assert.equal(report.kernel.release, Deno.osRelease());
  assert.equal(report.files.length, 2);
  const [dels, kill] = report.files;
  assert.equal(dels?.valid, true);
  assert.equal(dels?.runnable, true);
  assert.equal(dels?.plan?.policyName, "file-deletion");
  assert.deepEqual(dels?.plan?.hooks.map((h) => h.name), [
    "kprobes[0] sys_unlinkat",
    "kprobes[1] sys_unlink",
    "kprobes[2] sys_rmdir",
  ]);
  // The cheapest mechanism this kernel allows for a syscall.
  for (const h of dels?.plan?.hooks ?? []) {
    assert.equal(h.mechanism, here.syscallMechanism);
    if (h.mechanism === "syscall_tracepoint") assert.equal(h.cost.class, "syscall-slow-path");
  }
  assert.equal(kill?.plan?.hooks[0]?.cost.class, "negligible");
});

Deno.test(
  requires(
    "vigil policy check splits the raw_syscalls + InMap policy per syscall",
    "root",
    "bpf_loop",
  ),
  () => {
    const r = check(["tests/fixtures/policy/file_deletion_expensive.yaml"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /hook tracepoints\[0\] raw_syscalls\/sys_enter → syscalls\/sys_enter_unlinkat/,
    );
    assert.match(
      r.stdout,
      /why {8}split from raw_syscalls\/sys_enter: every selector restricts the syscall id/,
    );
  },
);

Deno.test(
  requires(
    "vigil policy check warns about a raw_syscalls hook it cannot split",
    "root",
    "bpf_loop",
  ),
  () => {
    const dir = Deno.makeTempDirSync();
    try {
      const file = `${dir}/raw.yaml`;
      Deno.writeTextFileSync(
        file,
        [
          "apiVersion: cilium.io/v1alpha1",
          "kind: TracingPolicy",
          "metadata:",
          "  name: raw-all",
          "spec:",
          "  tracepoints:",
          "  - subsystem: raw_syscalls",
          "    event: sys_enter",
          "    args:",
          "    - index: 4",
          "      type: syscall64",
          "",
        ].join("\n"),
      );
      const r = check([file]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /cost {7}every-syscall: /);
      assert.match(
        r.stdout,
        new RegExp(
          `${file}:7:5: warning: spec\\.tracepoints\\[0\\]: raw_syscalls/sys_enter runs this hook's program on every syscall of every task \\(the field's 400%-CPU pattern\\)`,
        ),
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
);

Deno.test(
  requires("vigil policy check exits 1 on each invalid fixture with file:line:column", "root"),
  () => {
    const dir = `${ROOT}tests/fixtures/policy/invalid`;
    const files = [...Deno.readDirSync(dir)].map((e) => `tests/fixtures/policy/invalid/${e.name}`)
      .sort();
    assert.ok(files.length >= 5);
    for (const file of files) {
      const r = check([file]);
      assert.equal(r.code, 1, `${file}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^${file}: invalid \\(\\d+ error\\(s\\)\\)$`, "m"));
      assert.match(r.stdout, new RegExp(`^  ${file}:\\d+:\\d+: error: `, "m"), file);
    }
  },
);

Deno.test(
  requires("vigil policy check exits 1 when any file is invalid, even with valid ones", "root"),
  () => {
    const r = check(["policies/file_deletion.yaml", "tests/fixtures/policy/invalid/bad_name.yaml"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^policies\/file_deletion.yaml: policy "file-deletion"/m);
    assert.match(
      r.stdout,
      /tests\/fixtures\/policy\/invalid\/bad_name.yaml:\d+:\d+: error: metadata.name: /,
    );
  },
);

Deno.test(
  requires(
    "vigil policy check: a kernel-function kprobe runs where the kernel allows it, else exits 3",
    "root",
  ),
  () => {
    const file = "tests/fixtures/policy/not_runnable/kprobe_fd_install.yaml";
    const { code, report } = json([file]);
    const f = report.files[0];
    assert.equal(f?.valid, true);
    const { kprobe, fentry, bpf_loop } = report.kernel.features;
    // The kernels users run: fentry or kprobes, and the engine's bpf_loop.
    if (
      (kprobe?.supported === true || fentry?.supported === true) && bpf_loop?.supported === true
    ) {
      assert.equal(code, 0, JSON.stringify(f));
      assert.equal(f?.runnable, true);
      return;
    }
    assert.equal(code, 3);
    assert.equal(f?.runnable, false);
    if (kprobe?.supported === false && fentry?.supported !== true) {
      assert.ok(f?.reason?.includes(kprobe.reason), String(f?.reason));
      if (/CONFIG_KPROBES/.test(kprobe.reason)) {
        assert.match(f?.reason ?? "", /kernel built without CONFIG_KPROBES/);
      }
    } else {
      assert.match(f?.reason ?? "", /needs bpf_loop/);
    }
    const text = check([file]);
    assert.equal(text.code, 3);
    assert.match(
      text.stdout,
      /valid, NOT runnable on this kernel: spec\.kprobes\[0\]: kprobe on fd_install cannot run on this kernel/,
    );
    assert.match(text.stdout, new RegExp(`^  ${file}:9:5: error: spec\\.kprobes\\[0\\]: `, "m"));
  },
);

Deno.test(
  requires(
    "vigil policy check: an LSM hook runs where BPF LSM (or fentry, kprobes on security_*) works, " +
      "else exits 3",
    "root",
  ),
  () => {
    const { code, report } = json(["tests/fixtures/policy/not_runnable/lsm_file_open.yaml"]);
    const { lsm, fentry, kprobe, bpf_loop } = report.kernel.features;
    const hookable = [lsm, fentry, kprobe].some((f) => f?.supported === true);
    if (hookable && bpf_loop?.supported === true) {
      assert.equal(code, 0, JSON.stringify(report.files[0]));
      assert.equal(report.files[0]?.runnable, true);
      return;
    }
    assert.equal(code, 3);
    if (hookable) {
      // Only the engine's helper is missing.
      assert.match(report.files[0]?.reason ?? "", /needs bpf_loop/);
      return;
    }
    assert.match(
      report.files[0]?.reason ?? "",
      /^spec\.lsmhooks\[0\]: LSM hook file_open cannot run on this kernel: lsm: /,
    );
    if (lsm?.supported === false) assert.ok(report.files[0]?.reason?.includes(lsm.reason));
  },
);

Deno.test(
  requires("vigil policy check without BPF capabilities: valid files exit 3 with why", "root"),
  () => {
    const r = check(["policies/file_deletion.yaml"], [
      "setpriv",
      "--bounding-set=-all",
      "--inh-caps=-all",
    ]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /^policies\/file_deletion.yaml: valid, NOT checked against this kernel: cannot probe this kernel: needs CAP_BPF/m,
    );
    assert.match(r.stderr, /^vigil policy check: cannot probe this kernel: /);
  },
);

Deno.test("vigil policy check without files is a usage error (exit 2)", () => {
  const r = check([]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^vigil policy check: give at least one policy file/);
});

Deno.test("vigil policy check reports an unreadable file as invalid (exit 1), without probing", () => {
  const r = check(["/nonexistent/policy.yaml"]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^ {2}\/nonexistent\/policy.yaml:1:1: error: cannot read the file: /m);
});

Deno.test(
  requires("vigil policy check judges no public Tetragon policy of the corpus invalid", "root"),
  () => {
    const dir = "tests/fixtures/policy/tetragon_corpus";
    const files = [...Deno.readDirSync(`${ROOT}${dir}`)]
      .map((e) => e.name)
      .filter((n) => n.endsWith(".yaml"))
      .sort()
      .map((n) => `${dir}/${n}`);
    const { code, report } = json(files);
    assert.notEqual(code, 1, "exit 1 means a file was judged invalid");
    assert.equal(report.files.length, files.length);
    for (const f of report.files) {
      assert.equal(f.valid, true, `${f.file}: ${JSON.stringify(f.errors)}`);
      // Valid but not runnable here always says why.
      if (!f.runnable) assert.ok((f.reason ?? "") !== "", `${f.file} has no reason`);
    }
  },
);
