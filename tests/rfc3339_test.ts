/** The one-byte RFC 3339 seconds prefix writes what `toISOString` writes. */
import assert from "node:assert/strict";
import { rfc3339Seconds } from "../src/rfc3339.ts";
import { unixNanosToRfc3339 } from "../src/metadata/protobuf.ts";

function iso(sec: number): string {
  return new Date(sec * 1000).toISOString().slice(0, 19);
}

Deno.test("rfc3339Seconds matches toISOString, edges and 10,000 random seconds of years 0-9999", () => {
  const edges = [
    0,
    -1, // 1969-12-31T23:59:59
    951_782_400, // 2000-02-29 (leap day)
    1_798_675_199, // 2026-12-31T23:59:59
    -62_167_219_200, // 0000-01-01T00:00:00
    253_402_300_799, // 9999-12-31T23:59:59
    253_402_300_800, // 10000-01-01: toISOString's own form
  ];
  for (const sec of edges) assert.equal(rfc3339Seconds(sec), iso(sec), `${sec}`);
  for (let i = 0; i < 10_000; i++) {
    const sec = Math.floor(Math.random() * (253_402_300_800 + 62_167_219_200)) - 62_167_219_200;
    assert.equal(rfc3339Seconds(sec), iso(sec), `${sec}`);
  }
});

Deno.test("container start times (CRI created_at) keep their format", () => {
  assert.equal(unixNanosToRfc3339(1_765_000_000_000_000_000n), "2025-12-06T05:46:40Z");
  assert.equal(unixNanosToRfc3339(1_765_000_000_000_000_123n), "2025-12-06T05:46:40.000000123Z");
  assert.equal(unixNanosToRfc3339(0n), undefined);
});
