import assert from "node:assert/strict";
import { execId, parseExecId } from "../../src/process/exec_id.ts";

const DOC_EXAMPLE = "tetragon-dev-control-plane:16817705012542:64746";

Deno.test("execId() matches the documented Tetragon example", () => {
  const id = execId("tetragon-dev-control-plane", 16817705012542n, 64746);
  assert.equal(atob(id), DOC_EXAMPLE);
  assert.equal(id, "dGV0cmFnb24tZGV2LWNvbnRyb2wtcGxhbmU6MTY4MTc3MDUwMTI1NDI6NjQ3NDY=");
});

Deno.test("execId() is standard, padded base64", () => {
  for (const [node, ktime, pid] of [["a", 1n, 1], ["ab", 12n, 3], ["abc", 123n, 45]] as const) {
    const id = execId(node, ktime, pid);
    assert.match(id, /^[A-Za-z0-9+/]*={0,2}$/);
    assert.equal(id.length % 4, 0);
    assert.equal(atob(id), `${node}:${ktime}:${pid}`);
  }
});

Deno.test("parseExecId() inverts execId()", () => {
  const cases: [string, bigint, number][] = [
    ["tetragon-dev-control-plane", 16817705012542n, 64746],
    ["node-1", 0n, 0],
    ["node-1", 18446744073709551615n, 4194304],
    ["host:with:colons", 42n, 7],
    ["nœud-ü", 99n, 1],
  ];
  for (const [nodeName, ktimeNs, pid] of cases) {
    assert.deepEqual(parseExecId(execId(nodeName, ktimeNs, pid)), { nodeName, ktimeNs, pid });
  }
});

Deno.test("parseExecId() decodes the documented example", () => {
  assert.deepEqual(parseExecId(btoa(DOC_EXAMPLE)), {
    nodeName: "tetragon-dev-control-plane",
    ktimeNs: 16817705012542n,
    pid: 64746,
  });
});

Deno.test("parseExecId() rejects malformed ids, naming them", () => {
  for (
    const bad of ["%%%", btoa("no-colons"), btoa("node:12"), btoa("node:x:1"), btoa("node:1:")]
  ) {
    assert.throws(() => parseExecId(bad), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.ok(err.message.includes(JSON.stringify(bad)), err.message);
      return true;
    });
  }
});
