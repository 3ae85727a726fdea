/**
 * Generates `src/policy/vocab/syscalls_x86_64.ts`, the x86_64 syscall name → number table that policy
 * `lists` and `InMap` selectors resolve against, from the kernel UAPI header shipped by Debian's
 * `linux-libc-dev` package (`apt-get install -y linux-libc-dev`).
 *
 * Usage: deno run --allow-read --allow-write --allow-run scripts/gen_syscalls.ts [--check] [HEADER]
 *   HEADER    defaults to /usr/include/x86_64-linux-gnu/asm/unistd_64.h
 *   --check   exit 1 if the committed file differs from what the header says.
 *
 * @module
 */
import { formatTs } from "./_format_ts.ts";

const DEFAULT_HEADER = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
const TARGET = new URL("../src/policy/vocab/syscalls_x86_64.ts", import.meta.url).pathname;

/** Reads `#define __NR_<name> <nr>` lines; anything else in the header is ignored. */
function parseHeader(text: string): Array<[string, number]> {
  const entries: Array<[string, number]> = [];
  for (const line of text.split("\n")) {
    const m = /^#define\s+__NR_([a-z0-9_]+)\s+(\d+)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) entries.push([m[1], Number(m[2])]);
  }
  entries.sort((a, b) => a[1] - b[1]);
  return entries;
}

async function packageVersion(): Promise<string> {
  try {
    const out = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f", "${Version}", "linux-libc-dev"],
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : "unknown";
  } catch {
    return "unknown";
  }
}

function render(header: string, version: string, entries: Array<[string, number]>): string {
  const last = entries[entries.length - 1];
  const rows = entries.map(([name, nr]) => `  ["${name}", ${nr}],`).join("\n");
  return `/**
 * x86_64 syscall names and numbers. GENERATED, do not edit: run
 * \`deno run --allow-read --allow-write --allow-run scripts/gen_syscalls.ts\`.
 *
 * Source: ${header}
 * from Debian's linux-libc-dev ${version}: ${entries.length} syscalls, highest number ${
    last?.[1] ?? "none"
  }.
 * The headers can be older than the running kernel: syscalls added after them are missing here
 * until the package is updated and this file regenerated.
 *
 * @module
 */

/** \`[name, number]\` pairs of the x86_64 (64-bit) syscall ABI, names without \`sys_\`. */
export const X86_64_SYSCALLS: ReadonlyArray<readonly [string, number]> = [
${rows}
];
`;
}

const check = Deno.args.includes("--check");
const header = Deno.args.find((a) => !a.startsWith("--")) ?? DEFAULT_HEADER;
const entries = parseHeader(Deno.readTextFileSync(header));
if (entries.length === 0) throw new Error(`no __NR_ definitions found in ${header}`);
const generated = await formatTs(render(header, await packageVersion(), entries));
if (check) {
  let current = "";
  try {
    current = Deno.readTextFileSync(TARGET);
  } catch { /* missing counts as different */ }
  if (current !== generated) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        "gen_syscalls --check: src/policy/vocab/syscalls_x86_64.ts is stale; regenerate and commit it\n",
      ),
    );
    Deno.exit(1);
  }
} else {
  Deno.writeTextFileSync(TARGET, generated);
}
