import assert from "node:assert/strict";
import { POLICY_OBJECTS } from "../../src/bpf/objects.ts";
import { ENGINE_PROGRAMS, ENTRY_PROGRAMS, MECHANISMS } from "../../src/policy/mechanisms/mod.ts";

Deno.test("mechanism table: every entry program is a built object that defines it", () => {
  assert.ok(ENTRY_PROGRAMS.length > 0, "the table names no program");
  for (const program of ENTRY_PROGRAMS) {
    const bytes = POLICY_OBJECTS[program.object];
    assert.ok(bytes, `${program.object} is not embedded`);
    const text = new TextDecoder("latin1").decode(bytes);
    for (const name of program.names) {
      assert.ok(text.includes(`${name}\0`), `${program.object} has no ${name}`);
    }
  }
});

Deno.test("mechanism table: rows with a program name the feature and engine type they need", () => {
  for (const row of MECHANISMS.values()) {
    if (row.program === null) continue;
    assert.ok(row.feature !== null && row.engine !== null, `${row.mechanism}: no feature`);
    assert.ok(ENGINE_PROGRAMS.includes(row.engine), `${row.mechanism}: engine list misses it`);
  }
});
