/**
 * The API bearer token: read from `--api-token-file`, or generated (32 random bytes, base64url)
 * and written with mode 0600 on first start. A token file that group or others can access is
 * refused: anyone who can read it can change the policies.
 *
 * @module
 */
import { dirname } from "node:path";
import { encodeBase64Url } from "./_base64url.ts";

/** Where `vigil run` and the CLI look for the token by default. */
export const DEFAULT_TOKEN_FILE = "/etc/vigil/api-token";

/** Whether the token came from the file or was just created. */
export interface TokenResult {
  readonly token: string;
  readonly created: boolean;
}

/** Generates a fresh token: 256 random bits, base64url without padding (43 characters). */
export function generateToken(): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

function checkMode(path: string, mode: number | null): void {
  if (mode === null) return;
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `API token file ${path} is accessible by group or others (mode ${
        (mode & 0o777).toString(8).padStart(4, "0")
      }); run 'chmod 600 ${path}' (and consider rotating the token)`,
    );
  }
}

function validate(path: string, text: string): string {
  const token = text.trim();
  if (token === "") throw new Error(`API token file ${path} is empty`);
  if (!/^[A-Za-z0-9._~+/-]+=*$/.test(token)) {
    throw new Error(
      `API token file ${path}: the token must be one line of base64/base64url characters`,
    );
  }
  return token;
}

/**
 * Reads the token at `path`, or creates it (mode 0600, missing directories mode 0700) when the
 * file does not exist. Throws one-line errors: unreadable file, bad mode, empty or malformed token.
 *
 * @example
 * ```ts
 * const { token, created } = await loadOrCreateToken("/etc/vigil/api-token");
 * ```
 */
export async function loadOrCreateToken(path: string): Promise<TokenResult> {
  try {
    return { token: await readTokenFile(path), created: false };
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const token = generateToken();
  try {
    // createNew: O_EXCL, so two starting agents never both write (and one reads the other's).
    await Deno.writeTextFile(path, token + "\n", { mode: 0o600, createNew: true });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      return { token: await readTokenFile(path), created: false };
    }
    throw new Error(`cannot create API token file ${path}: ${describe(err)}`, { cause: err });
  }
  await Deno.chmod(path, 0o600); // the umask may only have removed bits; make it exact
  return { token, created: true };
}

/**
 * Reads and checks an existing token file (mode, content). Throws `Deno.errors.NotFound` when it
 * does not exist, one-line errors otherwise.
 */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  let mode: number | null;
  try {
    const stat = await Deno.stat(path);
    if (!stat.isFile) throw new Error(`API token file ${path} is not a regular file`);
    mode = stat.mode;
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw err;
    if (err instanceof Error && err.message.startsWith("API token file")) throw err;
    throw new Error(`cannot read API token file ${path}: ${describe(err)}`, { cause: err });
  }
  checkMode(path, mode);
  return validate(path, text);
}

function describe(err: unknown): string {
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  return err instanceof Error ? err.message : String(err);
}
