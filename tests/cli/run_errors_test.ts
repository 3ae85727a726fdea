/**
 * Bad input to `vigil run`: each gets one clear error line and a non-zero exit.
 */
import assert from "node:assert/strict";
import { requires } from "../_helpers/requires.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function vigil(
  args: string[],
  wrap: string[] = [],
): Promise<{ code: number; stderr: string[] }> {
  // No API and no policies: these runs must not depend on a free port or on policies/.
  const extra = args[0] === "run" ? ["--listen", "", "--policy-dir", ""] : [];
  const argv = [...wrap, Deno.execPath(), "run", "--allow-all", MAIN, ...args, ...extra];
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "null",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr).split("\n").filter((l) => l !== "");
  return { code: out.code, stderr };
}

/** The error lines, i.e. what is not an informational JSON log line. */
function errorLines(lines: string[]): string[] {
  return lines.filter((l) => !l.includes('"level":"info"') && !l.includes('"level":"debug"'));
}

Deno.test("vigil run rejects an unknown flag with one line and exit 2", async () => {
  const { code, stderr } = await vigil(["run", "--bogus"]);
  assert.equal(code, 2);
  assert.equal(stderr.length, 1);
  assert.match(stderr[0]!, /--bogus/);
});

Deno.test("vigil run rejects a bad ring buffer size by name", async () => {
  const { code, stderr } = await vigil(["run", "--ring-buffer-size", "3"]);
  assert.equal(code, 2);
  assert.equal(stderr.length, 1);
  assert.match(stderr[0]!, /--ring-buffer-size must be a power of two/);
});

Deno.test({
  ...requires("vigil run fails with one line naming an unwritable export path", "root"),
  async fn() {
    const { code, stderr } = await vigil(["run", "--export", "/nonexistent-dir/events.json"]);
    assert.equal(code, 1);
    const errors = errorLines(stderr);
    assert.equal(errors.length, 1, stderr.join("\n"));
    assert.match(errors[0]!, /\/nonexistent-dir\/events\.json/);
    assert.ok(!stderr.some((l) => l.includes('"msg":"ready"')));
  },
});

Deno.test({
  ...requires("vigil run fails with one line when the kernel has no BTF", "root"),
  async fn() {
    // A private mount namespace where /sys/kernel/btf is an empty tmpfs: no vmlinux BTF.
    const { code, stderr } = await vigil(["run", "--export", "/dev/null"], [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tmpfs none /sys/kernel/btf && exec "$@"',
      "sh",
    ]);
    assert.equal(code, 1);
    const errors = errorLines(stderr);
    assert.equal(errors.length, 1, stderr.join("\n"));
    assert.match(errors[0]!, /kernel has no BTF at \/sys\/kernel\/btf\/vmlinux/);
  },
});

Deno.test({
  ...requires(
    "vigil run --host-libbpf fails with one line when the host's libbpf is unusable",
    "root",
  ),
  async fn() {
    const libbpf = Deno.realPathSync("/usr/lib/x86_64-linux-gnu/libbpf.so.1");
    // In a private mount namespace the host's libbpf reads as an empty file (the real one is untouched).
    const { code, stderr } = await vigil(["run", "--export", "/dev/null", "--host-libbpf"], [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `mount --bind /dev/null ${libbpf} && exec "$@"`,
      "sh",
    ]);
    assert.equal(code, 1);
    const errors = errorLines(stderr);
    assert.equal(errors.length, 1, stderr.join("\n"));
    assert.match(errors[0]!, /the host's libbpf\.so\.1 cannot be loaded/);
    assert.match(errors[0]!, /drop --host-libbpf/);
  },
});

Deno.test({
  ...requires("vigil run without --host-libbpf does not need the host's libbpf", "root"),
  async fn() {
    const libbpf = Deno.realPathSync("/usr/lib/x86_64-linux-gnu/libbpf.so.1");
    const dir = await Deno.makeTempDir();
    // The embedded copy is used: the agent becomes ready although the host's libbpf is unusable.
    const child = new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        `mount --bind /dev/null ${libbpf} && exec "$@"`,
        "sh",
        Deno.execPath(),
        "run",
        "--allow-all",
        MAIN,
        "run",
        "--export",
        `${dir}/e.json`,
        "--listen",
        "",
        "--policy-dir",
        "",
      ],
      stderr: "piped",
      stdout: "null",
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes('"msg":"ready"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    child.kill("SIGTERM");
    await child.status;
    reader.releaseLock();
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
    assert.match(text, /"source":"embedded"/);
    assert.match(text, /"msg":"ready"/);
  },
});
