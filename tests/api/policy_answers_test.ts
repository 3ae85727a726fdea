/**
 * What the policy routes answer is bounded whatever the service reports (issue 14 item 9): the
 * first 20 errors, each string cut, the count of the rest; a change refused because the queue
 * is full is a 503 with Retry-After, one that could not be made a 500 saying why.
 */
import assert from "node:assert/strict";
import { createApp } from "../../src/api/app.ts";
import { PolicyChangeError } from "../../src/policy/change_queue.ts";
import { AUTH, fakes } from "./_fakes.ts";

function setup() {
  const f = fakes();
  return { f, app: createApp(f.deps) };
}

Deno.test("a reload with 5,000 long errors answers 20 of them, cut, and how many more", async () => {
  const { f, app } = setup();
  const huge = '"'.repeat(100_000);
  f.policies.nextReload = {
    policies: [],
    errors: Array.from({ length: 5_000 }, (_, i) => ({ file: `/p/${i}.yaml`, message: huge })),
  };
  const res = await app.request("/policies/reload", { method: "POST", headers: AUTH });
  const text = await res.text();
  assert.equal(res.status, 400);
  assert.ok(text.length < 32_000, `${text.length}-byte answer`);
  const body = JSON.parse(text);
  assert.equal(body.errors.length, 20);
  assert.equal(body.more, 4_980);
  assert.ok(body.errors.every((e: { message: string }) => e.message.length <= 300));
  assert.match(body.error, /^reload: 5000 policy files failed/);
});

Deno.test("a rejected policy with a huge message is quoted back cut", async () => {
  const { f, app } = setup();
  f.policies.apply = () =>
    Promise.resolve({
      ok: false,
      errors: Array.from({ length: 50 }, () => ({ message: "x".repeat(1_000_000), line: 1 })),
    });
  const res = await app.request("/policies", { method: "POST", headers: AUTH, body: "a: 1" });
  const text = await res.text();
  assert.equal(res.status, 400);
  assert.ok(text.length < 16_000, `${text.length}-byte answer`);
  const body = JSON.parse(text);
  assert.equal(body.more, 30);
  assert.match(body.error, /^policy rejected: x+… \(line 1\) \(and 49 more\)$/);
});

Deno.test("a full change queue answers 503 with Retry-After; a change not made, 500", async () => {
  const { f, app } = setup();
  f.policies.apply = () => Promise.reject(new PolicyChangeError(503, "16 changes waiting"));
  f.policies.reload = () => Promise.reject(new PolicyChangeError(503, "16 changes waiting"));
  f.policies.delete = () => Promise.reject(new PolicyChangeError(500, "cannot remove /p/a.yaml"));
  let res = await app.request("/policies", { method: "POST", headers: AUTH, body: "a: 1" });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "1");
  assert.deepEqual(await res.json(), { error: "16 changes waiting" });
  res = await app.request("/policies/reload", { method: "POST", headers: AUTH });
  assert.equal(res.status, 503);
  await res.body?.cancel();
  res = await app.request("/policies/a", { method: "DELETE", headers: AUTH });
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), { error: "cannot remove /p/a.yaml" });
  f.policies.apply = () =>
    Promise.resolve({ ok: false, status: 500, errors: [{ message: "not applied: disk full" }] });
  res = await app.request("/policies", { method: "POST", headers: AUTH, body: "a: 1" });
  assert.equal(res.status, 500);
  assert.equal((await res.json()).error, "not applied: disk full");
});
