/**
 * Helpers of the export end-to-end tests: run a known number of marked processes and count their
 * `process_exec` events in one or more export files, checking on the way that every line of those
 * files is whole JSON.
 *
 * @module
 */

/** Runs `/bin/true MARK-i` for i in [from, to), one after the other. */
export async function runMarked(mark: string, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const { code } = await new Deno.Command("/bin/true", {
      args: [`${mark}-${i}`],
      stdout: "null",
      stderr: "null",
    }).output();
    if (code !== 0) throw new Error(`/bin/true ${mark}-${i} exited ${code}`);
  }
}

/** What the files hold: every line parsed (a broken one throws, naming file and line). */
export function execMarks(paths: readonly string[], mark: string): Set<number> {
  const seen = new Set<number>();
  const prefix = `${mark}-`;
  for (const path of paths) {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw err;
    }
    if (text !== "" && !text.endsWith("\n")) {
      throw new Error(`${path} ends inside a line: ${JSON.stringify(text.slice(-80))}`);
    }
    const lines = text.split("\n");
    lines.pop();
    for (const [i, line] of lines.entries()) {
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        throw new Error(
          `${path}:${i + 1} is not whole JSON: ${JSON.stringify(line.slice(0, 120))}`,
        );
      }
      const args = event.process_exec?.process?.arguments;
      if (typeof args === "string" && args.startsWith(prefix)) {
        seen.add(Number(args.slice(prefix.length)));
      }
    }
  }
  return seen;
}

/** Waits until the files hold the marks [from, to); resolves to the ones missing at the deadline. */
export async function waitForMarks(
  paths: () => readonly string[],
  mark: string,
  from: number,
  to: number,
  timeoutMs = 15_000,
): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const seen = execMarks(paths(), mark);
    const missing: number[] = [];
    for (let i = from; i < to; i++) if (!seen.has(i)) missing.push(i);
    if (missing.length === 0 || Date.now() > until) return missing;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A unique mark for one test. */
export function newMark(name: string): string {
  return `vigil-${name}-${crypto.randomUUID().slice(0, 8)}`;
}
