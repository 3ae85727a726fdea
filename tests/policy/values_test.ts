import assert from "node:assert/strict";
import { parseInteger } from "../../src/policy/vocab/mod.ts";
import { networkNameValue, parseIpPrefix } from "../../src/policy/vocab/mod.ts";
import { capabilityByName } from "../../src/policy/vocab/mod.ts";
import { formatIssue } from "../../src/policy/spec/mod.ts";

Deno.test("parseInteger() follows Go's base-0 and base-10 syntax and range rules", () => {
  const s32 = { base: 0, bits: 32, signed: true } as const;
  assert.equal(parseInteger("42", s32), 42n);
  assert.equal(parseInteger("-42", s32), -42n);
  assert.equal(parseInteger("+7", s32), 7n);
  assert.equal(parseInteger("0x1F", s32), 31n);
  assert.equal(parseInteger("0o17", s32), 15n);
  assert.equal(parseInteger("017", s32), 15n);
  assert.equal(parseInteger("0b101", s32), 5n);
  assert.equal(parseInteger("1_000", s32), 1000n);
  assert.equal(parseInteger("0", s32), 0n);
  assert.equal(parseInteger("2147483647", s32), 2147483647n);
  assert.equal(parseInteger("2147483648", s32), undefined);
  assert.equal(parseInteger("-2147483648", s32), -2147483648n);
  for (const bad of ["", "-", "0x", "08", "1__0", "_1", "1e3", " 1", "0x1g"]) {
    assert.equal(parseInteger(bad, s32), undefined, bad);
  }
  const u64 = { base: 10, bits: 64, signed: false } as const;
  assert.equal(parseInteger("18446744073709551615", u64), 18446744073709551615n);
  assert.equal(parseInteger("18446744073709551616", u64), undefined);
  assert.equal(parseInteger("-1", u64), undefined);
  assert.equal(parseInteger("0x10", u64), undefined, "base 10 takes no prefix");
  assert.equal(parseInteger("1_0", u64), undefined, "base 10 takes no underscores");
});

Deno.test("parseIpPrefix() parses IPv4/IPv6 addresses and CIDR prefixes", () => {
  assert.deepEqual(parseIpPrefix("192.168.1.7"), {
    family: 4,
    bytes: [192, 168, 1, 7],
    prefixLen: 32,
  });
  assert.deepEqual(parseIpPrefix("10.0.0.0/8"), { family: 4, bytes: [10, 0, 0, 0], prefixLen: 8 });
  assert.deepEqual(parseIpPrefix("fd00::/8")?.bytes.slice(0, 2), [0xfd, 0]);
  assert.equal(parseIpPrefix("fd00::/8")?.prefixLen, 8);
  assert.deepEqual(parseIpPrefix("::ffff:1.2.3.4")?.bytes.slice(10), [0xff, 0xff, 1, 2, 3, 4]);
  assert.deepEqual(parseIpPrefix("2001:db8::1")?.bytes, [
    0x20,
    0x01,
    0x0d,
    0xb8,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
  ]);
  for (
    const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1.2.3.4/33", "::1/129", "1::2::3", "x", ""]
  ) {
    assert.equal(parseIpPrefix(bad), undefined, bad);
  }
});

Deno.test("networkNameValue() knows IPPROTO_*, AF_* and TCP_* names", () => {
  assert.equal(networkNameValue("protocol", "IPPROTO_TCP"), 6);
  assert.equal(networkNameValue("family", "AF_UNIX"), 1);
  assert.equal(networkNameValue("family", "AF_INET6"), 10);
  assert.equal(networkNameValue("state", "TCP_LISTEN"), 10);
  assert.equal(networkNameValue("protocol", "AF_INET"), undefined);
  assert.equal(networkNameValue("state", "toString"), undefined);
});

Deno.test("capabilityByName() resolves CAP_* names in any case", () => {
  assert.deepEqual(capabilityByName(" cap_bpf "), { name: "CAP_BPF", nr: 39 });
  assert.deepEqual(capabilityByName("CAP_CHECKPOINT_RESTORE"), {
    name: "CAP_CHECKPOINT_RESTORE",
    nr: 40,
  });
  assert.equal(capabilityByName("SYS_ADMIN"), undefined);
});

Deno.test("formatIssue() renders file:line:column, severity, path and message", () => {
  const issue = { file: "p.yaml", line: 3, column: 5, path: "metadata.name", message: "bad" };
  assert.equal(formatIssue(issue, "error"), "p.yaml:3:5: error: metadata.name: bad");
  assert.equal(formatIssue({ ...issue, path: "" }), "p.yaml:3:5: bad");
});
