/**
 * Hostile policy texts (issue 14 items 1, 2, 9): for each one, the time to parse it on this
 * thread (median of 3, after a warm-up), the heap its first parse left allocated, the number of errors and the size of their JSON; then the
 * scaling of the parse with the input (unknown keys and long error lines at n and 2n, their time
 * ratio: ~2 is linear, ~4 quadratic). Each text runs in a fresh subprocess so one blow-up cannot
 * skew the next; a run past `--timeout-ms` is reported as such.
 *
 * Numbers only, no assertions. Run: `deno run --allow-all bench/hostile_policy.ts
 * [--timeout-ms MS]`. To compare with another tree, run it from that tree.
 *
 * @module
 */
import { fmt, machineLine, median, print } from "./_lib.ts";
import * as hostile from "../tests/policy/_hostile.ts";

const SELF = new URL(import.meta.url).pathname;

interface Measure {
  readonly ms: number;
  readonly heapMb: number;
  readonly errors: number;
  readonly errorBytes: number;
  readonly first: string;
}

function texts(): Record<string, string> {
  return {
    "deep 3,000 (issue)": hostile.deepTags(3000),
    "deep flow 100,000": hostile.deepFlow(100_000),
    "alias bomb 900 hooks": hostile.aliasBomb(900),
    "unknown keys 20,000": hostile.manyKeys(20_000),
    "unknown keys 5,000": hostile.manyKeys(5_000),
    "unknown keys 10,000": hostile.manyKeys(10_000),
    "long errors 250": hostile.manyLongErrors(250, 1000),
    "long errors 500": hostile.manyLongErrors(500, 1000),
    "long errors 999": hostile.manyLongErrors(999, 1000),
    "huge name 1 MiB": hostile.hugeName(),
    "flow list 500,000": `x: [${"a,".repeat(500_000)}a]\n`,
  };
}

/** Child mode: parse one named text and print its measure as JSON. */
async function child(name: string): Promise<void> {
  const { parsePolicy } = await import("../src/policy/spec/parse.ts");
  const text = texts()[name]!;
  // Warm the parser up, so the first (JIT-compiling) parse is not what is measured.
  for (let i = 0; i < 3; i++) parsePolicy(hostile.friendlyAliases(), "warm.yaml");
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = Deno.memoryUsage().heapUsed;
  let r = parsePolicy(text, "bench.yaml");
  const heapMb = (Deno.memoryUsage().heapUsed - heap0) / 1e6;
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    r = parsePolicy(text, "bench.yaml");
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  const m: Measure = {
    ms,
    heapMb,
    errors: r.errors.length,
    errorBytes: JSON.stringify(r.errors).length,
    first: (r.errors[0]?.message ?? "(valid)").slice(0, 70),
  };
  print(JSON.stringify(m));
}

async function measure(name: string, timeoutMs: number): Promise<Measure | "timeout" | string> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--v8-flags=--expose-gc,--stack-size=984", SELF, "--child", name],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  });
  try {
    const out = await cmd.output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      return `exit ${out.code}: ${new TextDecoder().decode(out.stderr).split("\n")[0]}`;
    }
    return JSON.parse(text) as Measure;
  } catch {
    return "timeout";
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--child");
  if (i >= 0) {
    await child(Deno.args[i + 1]!);
  } else {
    const t = Deno.args.indexOf("--timeout-ms");
    const timeoutMs = t >= 0 ? Number(Deno.args[t + 1]) : 60_000;
    print(`hostile policy texts, parsed on one thread (${machineLine()})`);
    print(
      `${"text".padEnd(22)} ${"bytes".padStart(9)} ${"ms".padStart(8)} ${"heap MB".padStart(8)} ` +
        `${"errors".padStart(7)} ${"err JSON B".padStart(11)}  first error`,
    );
    const results: Record<string, Measure> = {};
    for (const [name, text] of Object.entries(texts())) {
      const m = await measure(name, timeoutMs);
      const head = `${name.padEnd(22)} ${String(text.length).padStart(9)}`;
      if (typeof m === "string") {
        print(`${head} ${m === "timeout" ? `> ${timeoutMs} ms (timeout)` : m}`);
        continue;
      }
      results[name] = m;
      print(
        `${head} ${fmt(m.ms, 0, 8)} ${fmt(m.heapMb, 1, 8)} ${String(m.errors).padStart(7)} ` +
          `${String(m.errorBytes).padStart(11)}  ${m.first}`,
      );
    }
    const ratio = (a: string, b: string) => {
      const x = results[a], y = results[b];
      return x && y ? fmt(y.ms / x.ms, 2) : "n/a";
    };
    print(`scaling (time at 2n / time at n; 2 = linear, 4 = quadratic):`);
    print(`  unknown keys 5,000 -> 10,000: ${ratio("unknown keys 5,000", "unknown keys 10,000")}`);
    print(`  long errors 250 -> 500: ${ratio("long errors 250", "long errors 500")}`);
  }
}
