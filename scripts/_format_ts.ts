/**
 * Formats generated TypeScript with the project's `deno fmt` settings, so generated modules are
 * byte-identical to what `deno fmt --check` expects (used by gen_abi.ts and gen_syscalls.ts).
 *
 * @module
 */

/** `source` as `deno fmt --line-width=100` prints it. */
export async function formatTs(source: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--line-width=100", "--ext=ts", "-"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(source));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error("deno fmt failed on the generated module");
  return new TextDecoder().decode(out.stdout);
}
