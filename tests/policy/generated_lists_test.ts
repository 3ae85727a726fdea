/**
 * `generated_syscalls` and `generated_ftrace` lists expand against the running kernel: the BTF
 * reader on a built blob and on this machine's vmlinux, the tracefs syscall events, and the
 * planner's expansion with injected facts.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  btfFunctionNames,
  ftraceLookup,
  type KernelSyscalls,
  planPolicy,
  readKernelSyscalls,
} from "../../src/policy/plan/mod.ts";
import type { PlanFacts } from "../../src/policy/plan/mod.ts";
import { withSpec } from "./_helpers.ts";
import { EVERYTHING_KERNEL, facts, FULL_ENGINE, policyOf } from "./plan_fixtures.ts";

/** A BTF blob with an INT, a FUNC_PROTO of one param, and FUNCs named `names`. */
function btfBlob(names: readonly string[]): Uint8Array {
  const strings = ["", "int", ...names];
  const strBytes = new TextEncoder().encode(strings.join("\0") + "\0");
  const offsets: number[] = [];
  let off = 0;
  for (const s of strings) {
    offsets.push(off);
    off += new TextEncoder().encode(s).length + 1;
  }
  const types: number[] = [];
  const u32 = (...v: number[]) => types.push(...v);
  u32(offsets[1] ?? 0, 1 << 24, 4, 32); // [1] INT "int", 4 bytes, 32 bits
  u32(0, (13 << 24) | 1, 1, 0, 1); // [2] FUNC_PROTO returning int, one int param
  names.forEach((_, i) => u32(offsets[2 + i] ?? 0, 12 << 24, 2)); // FUNC → proto 2
  const typeBytes = new Uint8Array(new Uint32Array(types).buffer);
  const blob = new Uint8Array(24 + typeBytes.length + strBytes.length);
  const view = new DataView(blob.buffer);
  view.setUint16(0, 0xeb9f, true);
  view.setUint8(2, 1);
  view.setUint32(4, 24, true);
  view.setUint32(8, 0, true);
  view.setUint32(12, typeBytes.length, true);
  view.setUint32(16, typeBytes.length, true);
  view.setUint32(20, strBytes.length, true);
  blob.set(typeBytes, 24);
  blob.set(strBytes, 24 + typeBytes.length);
  return blob;
}

Deno.test("btfFunctionNames() walks every BTF kind and returns the FUNC names kept", () => {
  const blob = btfBlob(["__x64_sys_openat", "fd_install", "__ia32_sys_dup"]);
  assert.deepEqual(btfFunctionNames(blob, () => true), [
    "__x64_sys_openat",
    "fd_install",
    "__ia32_sys_dup",
  ]);
  assert.deepEqual(btfFunctionNames(blob, (n) => n.startsWith("__x64_")), ["__x64_sys_openat"]);
  assert.throws(() => btfFunctionNames(new Uint8Array(40), () => true), /bad magic/);
});

const LIVE = readKernelSyscalls();
const LIVE_TEST = "readKernelSyscalls() lists this kernel's syscalls (tracefs events, else BTF)";

Deno.test({
  name: LIVE.error === undefined ? LIVE_TEST : `${LIVE_TEST} [IGNORED: ${LIVE.error}]`,
  ignore: LIVE.error !== undefined,
}, () => {
  const live = LIVE;
  assert.ok(live.error === undefined);
  assert.ok(live.x64.has("openat") && live.x64.has("newstat"), live.source);
  // x86_64 has no stat entry (it is newstat) and sendfile enters as sendfile64.
  assert.equal(live.x64.has("stat"), false);
  assert.ok(live.x64.has("sendfile64"));
  // BTF alone: the table's syscalls that the kernel's BTF has.
  const btfOnly = readKernelSyscalls("/nonexistent-tracefs");
  if (btfOnly.error === undefined) {
    assert.equal(btfOnly.source, "/sys/kernel/btf/vmlinux");
    assert.ok(btfOnly.x64.has("openat"));
    assert.equal(btfOnly.x64.has("s390_ipc"), false, "stubs of other architectures are dropped");
  }
  const none = readKernelSyscalls("/nonexistent-tracefs", "/nonexistent-btf");
  assert.match(none.error ?? "", /nonexistent-tracefs.*nonexistent-btf/);
});

Deno.test("ftraceLookup() says why when available_filter_functions cannot be read", () => {
  const missing = ftraceLookup("/nonexistent-tracefs")(/^security_/);
  assert.match(
    missing.error ?? "",
    /cannot read \/nonexistent-tracefs\/available_filter_functions/,
  );
  const dir = Deno.makeTempDirSync({ prefix: "vigil-ftrace-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/available_filter_functions`,
      "security_file_open\nsecurity_file_permission\nfd_install\nsecurity_file_open [mod]\n",
    );
    assert.deepEqual(ftraceLookup(dir)(/^security_file_/), {
      functions: ["security_file_open", "security_file_permission"],
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

const GENERATED = withSpec(
  "  lists:",
  "  - name: all",
  "    type: generated_syscalls",
  "  - name: files",
  "    type: generated_ftrace",
  '    pattern: "^security_file_"',
  "  kprobes:",
  '  - call: "list:all"',
  "    syscall: true",
  '  - call: "list:files"',
  "    syscall: false",
);

function withKernel(f: Partial<PlanFacts>): PlanFacts {
  return { ...facts({ features: EVERYTHING_KERNEL, engine: FULL_ENGINE }), ...f };
}

Deno.test("generated_syscalls expands to the kernel's syscalls, generated_ftrace to its pattern", () => {
  const kernelSyscalls: KernelSyscalls = {
    x64: new Set(["openat", "newstat", "sendfile64", "cachestat"]),
    ia32: new Set(),
    source: "test kernel",
  };
  const ftrace = (re: RegExp) => ({
    functions: ["security_file_open", "fd_install"].filter((f) => re.test(f)),
  });
  const plan = planPolicy(policyOf(GENERATED), withKernel({ kernelSyscalls, ftrace }));
  const targets = plan.hooks.map((h) => h.name);
  assert.equal(targets.length, 5, targets.join(", "));
  assert.ok(targets.some((t) => t.includes("sys_stat")), "newstat is the stat syscall");
  assert.ok(targets.some((t) => t.includes("sys_sendfile")));
  // A syscall newer than vigil's table still gets a hook (attached by name).
  assert.ok(targets.some((t) => t.includes("sys_cachestat")));
  assert.ok(targets.some((t) => t.includes("security_file_open")));
  assert.match(
    plan.warnings.map((w) => w.message).join("\n"),
    /list 'all': 4 syscalls from test kernel/,
  );
});

Deno.test("generated_ftrace without a readable available_filter_functions is not runnable", () => {
  const plan = planPolicy(
    policyOf(GENERATED),
    withKernel({ ftrace: () => ({ error: "cannot read x: EPERM" }) }),
  );
  assert.equal(plan.runnable, false);
  assert.match(
    plan.errors.map((e) => e.message).join("\n"),
    /generated_ftrace list 'files' \(pattern "\^security_file_"\) cannot be expanded: cannot read x: EPERM/,
  );
});

Deno.test("generated_ftrace refuses patterns that backtrack without bound, before running them", () => {
  let ran = 0;
  const ftrace = (re: RegExp) => {
    ran++;
    return { functions: ["security_file_open"].filter((f) => re.test(f)) };
  };
  for (const pattern of ["(a+)+$", "(x|xy)*z", "((ab)*c)*", "(a{2,})+", "(a)\\1"]) {
    const text = GENERATED.replace('"^security_file_"', JSON.stringify(pattern));
    const started = performance.now();
    const plan = planPolicy(policyOf(text), withKernel({ ftrace }));
    assert.ok(performance.now() - started < 1000, `${pattern} planned in bounded time`);
    assert.equal(plan.runnable, false, pattern);
    assert.match(
      plan.errors.map((e) => e.message).join("\n"),
      /backtrack for ever|back-references/,
      pattern,
    );
  }
  assert.equal(ran, 0, "no unsafe pattern reached the kernel's function list");
  const long = GENERATED.replace('"^security_file_"', JSON.stringify("a".repeat(300)));
  assert.match(
    planPolicy(policyOf(long), withKernel({ ftrace })).errors.map((e) => e.message).join("\n"),
    /the limit is 256/,
  );
  // Ordinary patterns still run: anchors, classes, one level of repetition, bounded groups.
  for (
    const pattern of ["^security_file_", "^(tcp|udp)_v[46]_connect$", "^vfs_[a-z]+$", "(ab)?c+"]
  ) {
    const text = GENERATED.replace('"^security_file_"', JSON.stringify(pattern));
    const plan = planPolicy(policyOf(text), withKernel({ ftrace }));
    assert.ok(!plan.errors.some((e) => /backtrack|back-ref/.test(e.message)), pattern);
  }
});
