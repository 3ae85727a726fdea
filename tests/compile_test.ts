/**
 * `deno task compile` (scripts/compile.sh): one clear line when no denort runtime can be had, and
 * a real build, run as `dist/vigil version`, when `DENORT_BIN` names one.
 *
 * "No network" is made certain with a network namespace of its own (`unshare --net`) and an empty
 * DENO_DIR (no cached denort), whatever the machine running the tests can reach.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface TaskResult {
  code: number;
  stdout: string;
  /** Without ANSI colours and without `deno task`'s own "Task compile ..." header. */
  stderr: string;
}

async function runCompile(
  env: Record<string, string>,
  options: { isolateNetwork?: boolean } = {},
): Promise<TaskResult> {
  const inherited = Deno.env.toObject();
  delete inherited.DENORT_BIN;
  const deno = [Deno.execPath(), "task", "compile"];
  const argv = options.isolateNetwork ? ["unshare", "--net", ...deno] : deno;
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    clearEnv: true,
    env: { ...inherited, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const text = new TextDecoder();
  const stderr = text.decode(out.stderr)
    // deno task prints its header in colour even with NO_COLOR set.
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((line) => !line.startsWith("Task compile "))
    .join("\n");
  return { code: out.code, stdout: text.decode(out.stdout), stderr };
}

async function npmCacheDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  assert.ok(out.success, "deno info --json failed");
  return JSON.parse(new TextDecoder().decode(out.stdout)).npmCache;
}

const CAN_ISOLATE_NETWORK = await (async () => {
  try {
    return (await new Deno.Command("unshare", { args: ["--net", "true"] }).output()).success;
  } catch {
    return false;
  }
})();

const DENORT_BIN = Deno.env.get("DENORT_BIN");

Deno.test({
  name: "deno task compile without DENORT_BIN and without network: one line saying what to do",
  ignore: !CAN_ISOLATE_NETWORK,
  async fn() {
    // A DENO_DIR without dl/ (where a downloaded denort is cached) but with the npm packages
    // `deno task` itself insists on having for deno.json's imports.
    const denoDir = await Deno.makeTempDir({ prefix: "vigil_compile_deno_dir_" });
    try {
      await Deno.symlink(await npmCacheDir(), `${denoDir}/npm`);
      const result = await runCompile({ DENO_DIR: denoDir }, { isolateNetwork: true });
      assert.notEqual(result.code, 0);
      assert.match(
        result.stderr,
        /^compile: no denort runtime: DENORT_BIN is unset and the download of denort is unreachable from this machine; set DENORT_BIN to a local denort of Deno \S+ for \S+ \(from denort-\S+\.zip\)\n$/,
      );
    } finally {
      await Deno.remove(denoDir, { recursive: true });
    }
  },
});

Deno.test("deno task compile with DENORT_BIN=/nonexistent names the bad path", async () => {
  const result = await runCompile({ DENORT_BIN: "/nonexistent" });
  assert.notEqual(result.code, 0);
  assert.match(
    result.stderr,
    /^compile: DENORT_BIN=\/nonexistent is not an executable file; point it at the denort of Deno \S+/,
  );
  assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
});

Deno.test("deno task compile with DENORT_BIN set to the deno CLI says it is not a denort", async () => {
  const result = await runCompile({ DENORT_BIN: Deno.execPath() });
  assert.notEqual(result.code, 0);
  assert.match(
    result.stderr,
    /^compile: DENORT_BIN=\S+: a program compiled with it does not run \(it is not a denort/,
  );
  assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
});

Deno.test({
  // No denort can be fetched on the machines this project runs on; set DENORT_BIN to run it.
  name: "deno task compile with a real DENORT_BIN builds dist/vigil, which runs `version`" +
    (DENORT_BIN === undefined
      ? " [IGNORED: DENORT_BIN unset and denort cannot be downloaded here]"
      : ""),
  ignore: DENORT_BIN === undefined,
  async fn() {
    const result = await runCompile({ DENORT_BIN: DENORT_BIN ?? "" });
    assert.equal(result.code, 0, result.stderr);
    const out = await new Deno.Command(new URL("dist/vigil", ROOT), {
      args: ["version", "--json"],
      stdin: "null",
    }).output();
    assert.ok(out.success);
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(typeof info.version, "string");
  },
});
