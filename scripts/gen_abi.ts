/**
 * Generates `src/bpf/abi.gen.ts` from the BTF of `bpf/out/abi_anchor.bpf.o` (built from
 * `bpf/include/abi.h`), so struct offsets and enum values are never mirrored by hand.
 *
 * Usage: deno task gen:abi [--check]
 *   --check   exit 1 if the committed file differs from what the built object says.
 *
 * @module
 */
import { formatTs } from "./_format_ts.ts";
import { type ObjectBtf, renderAbiModule } from "../src/bpf/abi_render.ts";

const OUT_DIR = new URL("../bpf/out/", import.meta.url).pathname;
const OBJECT = `${OUT_DIR}abi_anchor.bpf.o`;
const TARGET = new URL("../src/bpf/abi.gen.ts", import.meta.url).pathname;

async function dumpBtf(object: string): Promise<unknown> {
  const out = await new Deno.Command("bpftool", { args: ["-j", "btf", "dump", "file", object] })
    .output();
  if (!out.success) {
    throw new Error(`bpftool btf dump ${object}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const check = Deno.args.includes("--check");
async function programObjects(): Promise<ObjectBtf[]> {
  const names = [...Deno.readDirSync(OUT_DIR)]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".bpf.o") && n !== "abi_anchor.bpf.o")
    .sort();
  return await Promise.all(
    names.map(async (name) => ({ name, btf: await dumpBtf(OUT_DIR + name) })),
  );
}

const generated = await formatTs(renderAbiModule(await dumpBtf(OBJECT), await programObjects()));
if (check) {
  let current = "";
  try {
    current = Deno.readTextFileSync(TARGET);
  } catch { /* missing counts as different */ }
  if (current !== generated) {
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        "gen:abi --check: src/bpf/abi.gen.ts is stale; run `deno task gen:abi` and commit it\n",
      ),
    );
    Deno.exit(1);
  }
} else {
  Deno.writeTextFileSync(TARGET, generated);
}
