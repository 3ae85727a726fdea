/**
 * The generated ABI module must match the BTF of the built objects (Tetragon's alignchecker
 * idea): a struct changed in bpf/include/abi.h without `deno task gen:abi` fails here.
 */
import assert from "node:assert/strict";
import { STRUCTS } from "../../src/bpf/abi.gen.ts";

Deno.test("gen_abi --check finds src/bpf/abi.gen.ts in sync with the built objects' BTF", async () => {
  const script = new URL("../../scripts/gen_abi.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-run", script, "--check"],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
});

// LPM trie keys follow the kernel's layout (u32 prefixlen + at most 256 data bytes), never embedded.
const KERNEL_SHAPED = new Set(["vigil_lpm_key"]);

Deno.test("every ABI struct is 8-byte sized and its fields lie inside it without overlap", () => {
  for (const [name, layout] of Object.entries(STRUCTS)) {
    if (!KERNEL_SHAPED.has(name)) assert.equal(layout.size % 8, 0, `${name} size ${layout.size}`);
    const fields = Object.values(layout.fields).sort((a, b) => a.offset - b.offset);
    let end = 0;
    for (const f of fields) {
      assert.ok(f.offset >= end, `${name}: field at ${f.offset} overlaps`);
      end = f.offset + f.size;
    }
    assert.ok(end <= layout.size, `${name}: fields end at ${end} > ${layout.size}`);
    // Explicit padding: the fields cover the whole struct, so BTF has no hidden holes.
    assert.equal(
      fields.reduce((n, f) => n + f.size, 0),
      layout.size,
      `${name} has implicit padding`,
    );
  }
});
