/**
 * scripts/install.sh into a temporary root: files and modes, a token the agent accepts,
 * idempotence (the operator's policies and token survive a re-run; the binary is updated).
 */
import assert from "node:assert/strict";
import { readTokenFile } from "../../src/api/token.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SCRIPT = `${ROOT}scripts/install.sh`;

async function install(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

async function fakeBinary(dir: string, body: string): Promise<string> {
  const path = `${dir}/vigil-build`;
  await Deno.writeTextFile(path, `#!/bin/sh\necho ${body}\n`, { mode: 0o755 });
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("install.sh --root installs binary, unit, policies and a 0600 token", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "vigil-install-test-" });
  const root = `${tmp}/root`;
  const binary = await fakeBinary(tmp, "v1");
  const r = await install(["--root", root, "--binary", binary]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");

  assert.equal(await mode(`${root}/usr/local/bin/vigil`), 0o755);
  assert.equal(await Deno.readTextFile(`${root}/usr/local/bin/vigil`), "#!/bin/sh\necho v1\n");
  assert.equal(await mode(`${root}/etc/systemd/system/vigil.service`), 0o644);
  assert.equal(
    await Deno.readTextFile(`${root}/etc/systemd/system/vigil.service`),
    await Deno.readTextFile(`${ROOT}deploy/vigil.service`),
  );
  const shipped = [...Deno.readDirSync(`${ROOT}policies`)].map((e) => e.name).filter((n) =>
    /\.ya?ml$/.test(n)
  ).sort();
  const installed = [...Deno.readDirSync(`${root}/etc/vigil/policies`)].map((e) => e.name).sort();
  assert.deepEqual(installed, shipped);
  assert.ok(shipped.length > 0);
  assert.equal(await mode(`${root}/etc/vigil/api-token`), 0o600);
  assert.equal(await mode(`${root}/var/log/vigil`), 0o750);
  // The agent's own reader accepts the generated token (format and mode).
  assert.match(await readTokenFile(`${root}/etc/vigil/api-token`), /^[A-Za-z0-9_-]{43}$/);
  assert.doesNotMatch(r.stdout, /install:/);
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("install.sh is idempotent: token and edited policies kept, binary and unit updated", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "vigil-install-test-" });
  const root = `${tmp}/root`;
  assert.equal((await install(["--root", root, "--binary", await fakeBinary(tmp, "v1")])).code, 0);
  const token = await Deno.readTextFile(`${root}/etc/vigil/api-token`);
  const policy = `${root}/etc/vigil/policies/connect_port.yaml`;
  await Deno.writeTextFile(policy, "# edited by the operator\n");
  await Deno.chmod(`${root}/etc/vigil/api-token`, 0o644); // loosened by mistake

  // DESTDIR works like --root.
  const r = await install(["--binary", await fakeBinary(tmp, "v2")], { DESTDIR: root });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kept existing .*connect_port\.yaml/);
  assert.match(r.stdout, /kept existing token/);
  assert.equal(await Deno.readTextFile(`${root}/etc/vigil/api-token`), token);
  assert.equal(await mode(`${root}/etc/vigil/api-token`), 0o600, "mode repaired");
  assert.equal(await Deno.readTextFile(policy), "# edited by the operator\n");
  assert.equal(await Deno.readTextFile(`${root}/usr/local/bin/vigil`), "#!/bin/sh\necho v2\n");
  const leftovers = [...Deno.readDirSync(`${root}/usr/local/bin`)].map((e) => e.name);
  assert.deepEqual(leftovers, ["vigil"], "no temporary files left");
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("install.sh refuses a missing binary and unknown options with one line", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "vigil-install-test-" });
  let r = await install(["--root", `${tmp}/root`, "--binary", `${tmp}/nope`]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `install: no executable vigil binary at ${tmp}/nope (run 'deno task compile', or pass --binary FILE)\n`,
  );
  r = await install(["--frobnicate"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "install: unknown option '--frobnicate' (see --help)\n");
  r = await install(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Installs vigil on this host/);
  await Deno.remove(tmp, { recursive: true });
});
