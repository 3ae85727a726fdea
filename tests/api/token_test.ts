/** The API token file: generation (0600, directories created), reuse, refusals. */
import assert from "node:assert/strict";
import { generateToken, loadOrCreateToken, readTokenFile } from "../../src/api/token.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "vigil-token-test-" });
}

Deno.test("loadOrCreateToken() creates a 0600 token (and 0700 directories), then reuses it", async () => {
  const dir = await tempDir();
  const path = `${dir}/etc/vigil/api-token`;
  const old = Deno.umask(0o022);
  try {
    const first = await loadOrCreateToken(path);
    assert.equal(first.created, true);
    assert.match(first.token, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/etc/vigil`)).mode! & 0o777, 0o700);
    assert.equal(await Deno.readTextFile(path), first.token + "\n");

    const second = await loadOrCreateToken(path);
    assert.deepEqual(second, { token: first.token, created: false });
  } finally {
    Deno.umask(old);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadOrCreateToken() under a permissive umask still writes mode 0600", async () => {
  const dir = await tempDir();
  const old = Deno.umask(0);
  try {
    await loadOrCreateToken(`${dir}/t`);
    assert.equal((await Deno.stat(`${dir}/t`)).mode! & 0o777, 0o600);
  } finally {
    Deno.umask(old);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a token file readable by group or others is refused with the fix in the message", async () => {
  const dir = await tempDir();
  const path = `${dir}/t`;
  await Deno.writeTextFile(path, generateToken());
  for (const mode of [0o640, 0o604, 0o660, 0o700 | 0o007]) {
    await Deno.chmod(path, mode);
    await assert.rejects(
      loadOrCreateToken(path),
      new RegExp(
        `is accessible by group or others \\(mode 0${
          (mode & 0o777).toString(8)
        }\\); run 'chmod 600 ${path}'`,
      ),
    );
  }
  await Deno.chmod(path, 0o400);
  assert.match(await readTokenFile(path), /^[A-Za-z0-9_-]{43}$/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("empty, malformed, directory and missing token files give one-line errors", async () => {
  const dir = await tempDir();
  const path = `${dir}/t`;
  await Deno.writeTextFile(path, "  \n", { mode: 0o600 });
  await assert.rejects(loadOrCreateToken(path), /API token file .* is empty/);
  await Deno.writeTextFile(path, "two words\n");
  await assert.rejects(loadOrCreateToken(path), /one line of base64/);
  await Deno.mkdir(`${dir}/d`, { mode: 0o700 });
  await assert.rejects(loadOrCreateToken(`${dir}/d`), /is not a regular file/);
  await assert.rejects(readTokenFile(`${dir}/missing`), Deno.errors.NotFound);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("generateToken() gives distinct 256-bit base64url tokens", () => {
  const tokens = new Set(Array.from({ length: 100 }, generateToken));
  assert.equal(tokens.size, 100);
  for (const t of tokens) assert.match(t, /^[A-Za-z0-9_-]{43}$/);
});
