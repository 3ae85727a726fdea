/**
 * `vigil version`: prints the agent's version and the runtime it runs on.
 *
 * @module
 */
import { type Command, parseFlags, printOut } from "./command.ts";
import { VERSION } from "../version.ts";

const USAGE = `Usage: vigil version [--json]

Prints vigil's version, the Deno runtime and the kernel release.

Options:
  --json     print as one JSON object
  -h, --help show this help`;

/** The `version` verb. */
export const versionCommand: Command = {
  usage: USAGE,
  run(argv) {
    const { values } = parseFlags("version", argv, { json: { type: "boolean" } });
    if (values.help) {
      printOut(USAGE);
      return Promise.resolve(0);
    }
    const info = { version: VERSION, deno: Deno.version.deno, kernel: Deno.osRelease() };
    printOut(
      values.json
        ? JSON.stringify(info)
        : `vigil ${info.version} (deno ${info.deno}, kernel ${info.kernel})`,
    );
    return Promise.resolve(0);
  },
};
