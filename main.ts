/**
 * vigil's entry point: picks the verb from the command line and runs it. No logic lives here.
 *
 * @module
 */
import { COMMANDS } from "./src/cli/verbs.ts";
import { printErr, printOut, UsageError } from "./src/cli/command.ts";
import { VERSION } from "./src/version.ts";

function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(" ").length));
  const lines = COMMANDS.map((c) => `  ${c.path.join(" ").padEnd(width)}  ${c.summary}`);
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
  const sorted = [...COMMANDS].sort((a, b) => b.path.length - a.path.length);
  const command = sorted.find((c) => c.path.every((word, i) => argv[i] === word));
  if (!command) {
    printErr(`vigil: unknown verb '${argv.slice(0, 2).join(" ")}' (see 'vigil --help')`);
    return 2;
  }
  try {
    return await command.run(argv.slice(command.path.length));
  } catch (err) {
    if (err instanceof UsageError) {
      printErr(err.message);
      return 2;
    }
    printErr(
      `vigil ${command.path.join(" ")}: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
