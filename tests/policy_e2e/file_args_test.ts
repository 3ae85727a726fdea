/**
 * Real kernel, real processes: the file family of args on kernel-function hooks
 * (bpf/lib/args_file.h), each read in the kernel and matched there.
 *
 * - `file` on security_file_open with a Prefix selector: a file opened under the prefix posts an
 *   event whose file_arg.path is the file's real path (with its permission string); a file
 *   outside posts nothing (filtered in the kernel);
 * - `linux_binprm` on security_bprm_check: the exec'd binary's path, matched with Equal;
 * - `file` + `char_buf` (sizeArgIndex) + `size_t` on vfs_write: the written bytes, base64;
 * - `path` on security_path_truncate with FileType reg: truncate(2) of a file under the prefix;
 * - `kiocb` + `iov_iter` on generic_perform_write: a write to a file on a tmpfs (/dev/shm: a
 *   mount below another mount) shows the file's full path and the bytes of the iterator.
 *
 * These hooks need fentry or kprobes: on a kernel without both (the development machine) the steps
 * are ignored loudly with the probe's reasons; the lab runs them:
 * `/work/wt/labrun --kernel 6.12 -- deno test -A tests/policy_e2e/file_args_test.ts`.
 */
import assert from "node:assert/strict";
import {
  bodyOf,
  type ExportedEvent,
  kernelFeatures,
  PERL,
  perlString,
  policy,
  type PolicyAgent,
  runPerl,
  settle,
  startPolicyAgent,
} from "./_helpers.ts";
import { requires } from "../_helpers/requires.ts";
import { POLICY_ENGINE_NEEDS } from "./_needs.ts";

const PERL_ONLY = `      matchBinaries:
      - operator: In
        values: ["${PERL}"]
`;

function filesOf(work: string, shm: string): Record<string, string> {
  return {
    "iter_write.yaml": policy(
      "iter-write",
      `  kprobes:
  - call: generic_perform_write
    syscall: false
    args:
    - index: 0
      type: kiocb
    - index: 1
      type: iov_iter
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["${shm}/"]
${PERL_ONLY}`,
    ),
    "file_open.yaml": policy(
      "file-open",
      `  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
      label: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["${work}/inside/"]
${PERL_ONLY}`,
    ),
    "bprm.yaml": policy(
      "bprm-check",
      `  kprobes:
  - call: security_bprm_check
    syscall: false
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${work}/bin/marker-true"]
`,
    ),
    "vfs_write.yaml": policy(
      "vfs-write",
      `  kprobes:
  - call: vfs_write
    syscall: false
    args:
    - index: 0
      type: file
    - index: 1
      type: char_buf
      sizeArgIndex: 3
    - index: 2
      type: size_t
    selectors:
    - matchArgs:
      - index: 0
        operator: Postfix
        values: ["/inside/written.txt"]
${PERL_ONLY}`,
    ),
    "truncate.yaml": policy(
      "path-truncate",
      `  kprobes:
  - call: security_path_truncate
    syscall: false
    args:
    - index: 0
      type: path
    selectors:
    - matchArgs:
      - index: 0
        operator: Prefix
        values: ["${work}/inside/"]
      - index: 0
        operator: FileType
        values: ["reg"]
${PERL_ONLY}`,
    ),
  };
}

function modeString(path: string): string {
  const mode = Deno.statSync(path).mode ?? 0;
  const rwx = (b: number) => `${b & 4 ? "r" : "-"}${b & 2 ? "w" : "-"}${b & 1 ? "x" : "-"}`;
  return `-${rwx(mode >> 6)}${rwx(mode >> 3)}${rwx(mode)}`;
}

async function onlyEventOf(pa: PolicyAgent, name: string, pid: number): Promise<ExportedEvent> {
  const [e] = await pa.waitForPolicyEvents(name, (b) => b.process?.pid === pid);
  return bodyOf(e!);
}

Deno.test(
  requires("policy e2e: file-family args on kernel functions", ...POLICY_ENGINE_NEEDS),
  async (t) => {
    // A tmpfs file: generic_perform_write is where tmpfs (and ext4) buffered writes go.
    const shm = Deno.makeTempDirSync({ dir: "/dev/shm", prefix: "vigil-e2e-" });
    await using _shm = {
      [Symbol.asyncDispose]: () => Deno.remove(shm, { recursive: true }).catch(() => {}),
    };
    await using pa = await startPolicyAgent((work) => {
      Deno.mkdirSync(`${work}/inside`);
      Deno.mkdirSync(`${work}/outside`);
      Deno.mkdirSync(`${work}/bin`);
      return Promise.resolve(filesOf(Deno.realPathSync(work), shm));
    });
    const work = Deno.realPathSync(pa.work);
    const features = await kernelFeatures(pa);
    const functions = features.fentry?.supported === true || features.kprobe?.supported === true;
    const ignored = functions
      ? ""
      : ` [IGNORED: this kernel has neither fentry (${features.fentry?.reason}) nor kprobes (${features.kprobe?.reason}): run it in the lab]`;

    await t.step("the policies are enabled where the kernel has function hooks", async () => {
      for (const name of ["file-open", "bprm-check", "vfs-write", "path-truncate", "iter-write"]) {
        const s = await pa.status(name);
        if (functions) assert.equal(s.state, "enabled", `${name}: ${s.reason}`);
        else assert.equal(s.state, "error", `${name}: ${JSON.stringify(s)}`);
      }
    });

    await t.step({
      name:
        `file on security_file_open: Prefix matches the real path, outside is filtered${ignored}`,
      ignore: !functions,
      fn: async () => {
        const inside = `${work}/inside/opened.txt`;
        const outside = `${work}/outside/opened.txt`;
        Deno.writeTextFileSync(inside, "x");
        Deno.writeTextFileSync(outside, "x");
        const before = await pa.counters("file-open");
        const miss = await runPerl(`open(my $f, "<", ${perlString(outside)}) or exit 3; exit 0;`);
        assert.equal(miss.code, 0, miss.stderr);
        // Through a relative path and a symlink: the event still names the real path.
        Deno.symlinkSync(inside, `${work}/outside/link`);
        const hit = await runPerl(
          `chdir(${perlString(`${work}/outside`)}) or exit 4; open(my $f, "<", "link") or exit 3;`,
        );
        assert.equal(hit.code, 0, hit.stderr);
        const e = await onlyEventOf(pa, "file-open", hit.pid);
        assert.equal(e.function_name, "security_file_open");
        assert.deepEqual(e.args, [
          { file_arg: { path: inside, permission: modeString(inside) }, label: "file" },
        ]);
        await settle();
        assert.ok(
          !pa.eventsOf("file-open").some((x) => x.process_kprobe?.process?.pid === miss.pid),
        );
        const after = await pa.counters("file-open");
        assert.ok(after.filtered > before.filtered, JSON.stringify({ before, after }));
      },
    });

    await t.step({
      name: `linux_binprm on security_bprm_check: the exec'd binary's path${ignored}`,
      ignore: !functions,
      fn: async () => {
        const bin = `${work}/bin/marker-true`;
        Deno.copyFileSync("/bin/true", bin);
        Deno.chmodSync(bin, 0o755);
        const other = await runPerl(`exec("/bin/true") or exit 3;`);
        assert.equal(other.code, 0);
        const hit = await runPerl(`exec(${perlString(bin)}) or exit 3;`);
        assert.equal(hit.code, 0, hit.stderr);
        const e = await onlyEventOf(pa, "bprm-check", hit.pid);
        assert.deepEqual(e.args, [
          { linux_binprm_arg: { path: bin, permission: "-rwxr-xr-x" } },
        ]);
        await settle();
        assert.equal(
          pa.eventsOf("bprm-check").length,
          1,
          JSON.stringify(pa.eventsOf("bprm-check")),
        );
      },
    });

    await t.step({
      name: `char_buf + sizeArgIndex on vfs_write: the bytes written${ignored}`,
      ignore: !functions,
      fn: async () => {
        const path = `${work}/inside/written.txt`;
        const text = "hello from vigil's file args";
        const hit = await runPerl(
          `open(my $f, ">", ${perlString(path)}) or exit 3; syswrite($f, ${
            perlString(text)
          }) or exit 4; exit 0;`,
        );
        assert.equal(hit.code, 0, hit.stderr);
        const e = await onlyEventOf(pa, "vfs-write", hit.pid);
        assert.deepEqual(e.args, [
          { file_arg: { path, permission: modeString(path) } },
          { bytes_arg: btoa(text) },
          { size_arg: String(text.length) },
        ]);
      },
    });

    await t.step({
      name: `path on security_path_truncate with FileType reg${ignored}`,
      ignore: !functions,
      fn: async () => {
        const path = `${work}/inside/truncated.txt`;
        Deno.writeTextFileSync(path, "some bytes");
        const hit = await runPerl(`truncate(${perlString(path)}, 2) or exit 3; exit 0;`);
        assert.equal(hit.code, 0, hit.stderr);
        const e = await onlyEventOf(pa, "path-truncate", hit.pid);
        assert.deepEqual(e.args, [{ path_arg: { path, permission: modeString(path) } }]);
      },
    });

    await t.step({
      name: `kiocb + iov_iter on generic_perform_write: tmpfs path and bytes${ignored}`,
      ignore: !functions,
      fn: async () => {
        const path = `${shm}/iter.txt`;
        const text = "bytes through an iov_iter";
        const hit = await runPerl(
          `open(my $f, ">", ${perlString(path)}) or exit 3; syswrite($f, ${
            perlString(text)
          }) or exit 4; exit 0;`,
        );
        assert.equal(hit.code, 0, hit.stderr);
        const e = await onlyEventOf(pa, "iter-write", hit.pid);
        assert.deepEqual(e.args, [
          { file_arg: { path, permission: modeString(path) } },
          { bytes_arg: btoa(text) },
        ]);
      },
    });
  },
);
