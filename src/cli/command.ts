/**
 * The shape every CLI verb implements, and the shared flag parsing built on `node:util`'s
 * `parseArgs` (strict: unknown flags and missing values are errors).
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** What a CLI verb's module exports; the words that select it are in `verbs.ts`. */
export interface Command {
  /** Full `--help` text. */
  readonly usage: string;
  /** Runs the verb; resolves to the process exit status. */
  run(argv: string[]): Promise<number>;
}

/** An error in the command line: printed as one line, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Options accepted by {@link parseFlags}. */
export type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

/** The value of one flag, typed from its option: string or boolean, an array when `multiple`. */
type FlagValue<O> = O extends { type: "boolean" }
  ? (O extends { multiple: true } ? boolean[] : boolean)
  : O extends { multiple: true } ? string[]
  : string;

/** The parsed flags of `options` (each absent when not given), plus `--help`. */
export type FlagValues<T extends FlagOptions> =
  & { [K in keyof T]?: FlagValue<T[K]> }
  & { help?: boolean };

/**
 * Parses `argv` strictly against `options`; turns node's errors into a {@link UsageError} that
 * names the verb.
 *
 * @example
 * ```ts
 * const { values } = parseFlags("probe", ["--json"], { json: { type: "boolean" } });
 * ```
 */
export function parseFlags<const T extends FlagOptions>(
  verb: string,
  argv: string[],
  options: T,
  allowPositionals = false,
): { values: FlagValues<T>; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals,
    });
    // parseArgs checked every value against `options`, which is what FlagValues<T> says.
    return { values: parsed.values as FlagValues<T>, positionals: parsed.positionals };
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new UsageError(`vigil ${verb}: ${message} (see 'vigil ${verb} --help')`);
  }
}

/** Writes text to stdout (the CLI's product output, as opposed to logs). */
export function printOut(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));
}

/** Writes one error line to stderr. */
export function printErr(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));
}
