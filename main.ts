/**
 * vigil's entry point: picks the verb from the command line and runs it. No logic lives here.
 *
 * @module
 */
import { VERBS } from "./src/cli/verbs.ts";
import { printErr, printOut, UsageError } from "./src/cli/command.ts";
import { VERSION } from "./src/version.ts";

function topLevelHelp(): string {
  const width = Math.max(...VERBS.map((v) => v.path.join(" ").length));
  const lines = VERBS.map((v) => `  ${v.path.join(" ").padEnd(width)}  ${v.summary}`);
  return `vigil ${VERSION}: eBPF runtime security agent

Usage: vigil <verb> [options]   (every verb takes --help)

Verbs:
${lines.join("\n")}`;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    printOut(topLevelHelp());
    return argv.length === 0 ? 2 : 0;
  }
  // Longest path first, so "cgroup resolve" wins over a hypothetical "cgroup".
  const sorted = [...VERBS].sort((a, b) => b.path.length - a.path.length);
  const verb = sorted.find((v) => v.path.every((word, i) => argv[i] === word));
  if (!verb) {
    printErr(`vigil: unknown verb '${argv.slice(0, 2).join(" ")}' (see 'vigil --help')`);
    return 2;
  }
  try {
    const command = await verb.load();
    return await command.run(argv.slice(verb.path.length));
  } catch (err) {
    if (err instanceof UsageError) {
      printErr(err.message);
      return 2;
    }
    printErr(
      `vigil ${verb.path.join(" ")}: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
