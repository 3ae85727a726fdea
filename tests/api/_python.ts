/**
 * The API tests use Python's socket module as an independent unix-socket peer; without python3
 * those tests are ignored loudly (the reason is in the test name).
 */

function probe(): string | null {
  try {
    const out = new Deno.Command("python3", { args: ["-c", "import socket"], stderr: "null" })
      .outputSync();
    return out.success ? null : "python3 cannot import socket";
  } catch {
    return "python3 is not installed";
  }
}

const SKIP = probe();

/** Test options: ignored with the reason in its name when python3 is missing. */
export function needsPython(name: string): { name: string; ignore: boolean } {
  return SKIP === null
    ? { name, ignore: false }
    : { name: `${name} [IGNORED: ${SKIP}]`, ignore: true };
}
