/**
 * The loader against the real kernel: a broken object fails with the program, the errno and the
 * verifier's words, and leaves nothing behind; the pre-5.17 (no bpf_loop) build of the process
 * object also loads and reports a correct cwd.
 */
import assert from "node:assert/strict";
import { type BpfRuntime, openBpfRuntime } from "../../src/bpf/runtime.ts";
import { BpfObject } from "../../src/bpf/object.ts";
import { BpfError } from "../../src/bpf/errors.ts";
import { RingReader } from "../../src/ringbuf/reader.ts";
import { decodeRecord } from "../../src/events/decode.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { requires } from "../_helpers/requires.ts";
import { createMaps } from "../../src/bpf/shared_maps.ts";
import { readMapFdInfo } from "../../src/bpf/map_memory.ts";
import { POLICY_OBJECTS, PROCESS_OBJECT } from "../../src/bpf/objects.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function compile(source: string, defines: string[] = []): Promise<Uint8Array> {
  const out = `${await Deno.makeTempDir()}/obj.o`;
  const cc = await new Deno.Command("clang", {
    args: [
      "-g",
      "-O2",
      "-target",
      "bpf",
      "-D__TARGET_ARCH_x86",
      ...defines,
      "-I",
      `${ROOT}bpf/include`,
      "-I",
      `${ROOT}bpf/include/vmlinux/x86`,
      "-I",
      `${ROOT}bpf`,
      "-c",
      source,
      "-o",
      out,
    ],
  }).output();
  assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
  return Deno.readFileSync(out);
}

function openFds(): string[] {
  return [...Deno.readDirSync("/proc/self/fd")].map((e) => {
    try {
      return Deno.readLinkSync(`/proc/self/fd/${e.name}`);
    } catch {
      return "";
    }
  }).filter((l) => l.startsWith("anon_inode:bpf")).sort();
}

async function bpftoolNames(): Promise<string[]> {
  const out = await new Deno.Command("bpftool", { args: ["-j", "prog", "show"] }).output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { name?: string }[]).map((p) =>
    p.name ?? ""
  );
}

Deno.test({
  ...requires(
    "BpfObject.load() of a broken object names the program, errno and verifier tail, and leaks nothing",
    "root",
  ),
  async fn() {
    const bytes = await compile(`${ROOT}tests/fixtures/bpf/broken.bpf.c`);
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    const before = openFds();
    let err: unknown;
    try {
      BpfObject.load(rt, bytes, { name: "broken.bpf.o" });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof BpfError);
    assert.equal(err.details.program, "vigil_broken");
    assert.equal(err.errno, 13); // EACCES: the verifier's refusal
    assert.match(err.message, /load broken\.bpf\.o: program vigil_broken: EACCES \(13\)/);
    assert.match(
      err.details.logTail ?? "",
      /invalid access to map value|unbounded|min value is negative/,
    );
    // Maps and the accepted program were created, then released with the object.
    assert.deepEqual(openFds(), before);
    assert.ok(!(await bpftoolNames()).includes("fine_prog"));
  },
});

Deno.test({
  ...requires(
    "the bounded-loop build (kernels without bpf_loop) loads and reports exec cwd",
    "root",
  ),
  async fn() {
    const bytes = await compile(`${ROOT}bpf/process.bpf.c`, ["-DVIGIL_NO_BPF_LOOP=1"]);
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    using obj = BpfObject.load(rt, bytes, { name: "process.bpf.o (no bpf_loop)" });
    using link = obj.attach("vigil_exec");
    const ring = obj.map("events");
    using reader = new RingReader(rt.libc, ring.fd, ring.maxEntries);
    const cwd = await Deno.makeTempDir();
    const tag = `vigil-fallback-${crypto.randomUUID()}`;
    await new Deno.Command("/bin/true", { args: [tag], cwd }).output();
    let found: string | undefined;
    reader.drain((view, at, length) => {
      const r = decodeRecord(view, at, length);
      if (r.kind === "exec" && r.argv.includes(tag)) found = r.cwd;
    }, 1_000_000);
    assert.ok(link.program.length > 0);
    assert.equal(found, cwd);
    await Deno.remove(cwd);
  },
});

Deno.test({
  ...requires(
    "two objects sharing maps created from one's definitions load at once, on two threads",
    "root",
    // The policy engine's object needs it.
    "bpf_loop",
  ),
  async fn() {
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    const before = openFds();
    const names = ["events", "exec_binaries", "exec_keys", "counters"] as const;
    const process = BpfObject.open(rt, PROCESS_OBJECT, {
      name: "process.bpf.o",
      maxEntries: { events: 1 << 20, exec_binaries: 4096 },
    });
    const btf = process.btfImage();
    assert.ok(btf !== null);
    const maps = createMaps(rt, process.name, names.map((n) => process.mapSpec(n)), btf);
    assert.equal(process.mapSpec("events").maxEntries, 1 << 20);
    // Typed as libbpf types its maps, wherever the kernel takes the object's BTF as it is.
    const typed = kernelTakes(rt, btf);
    for (const n of ["exec_binaries", "exec_keys", "counters"] as const) {
      const spec = process.mapSpec(n);
      assert.ok(spec.btfValueTypeId > 0, n);
      const ids = mapBtf(rt, maps.fds[n]);
      assert.equal(ids.btfId > 0, typed, `${n}: BTF id ${ids.btfId}`);
      if (typed) {
        assert.equal(ids.key, spec.btfKeyTypeId, n);
        assert.equal(ids.value, spec.btfValueTypeId, n);
      }
    }
    for (const n of names) process.reuseMap(n, maps.fds[n]);
    const engineBytes = POLICY_OBJECTS["policy_tracepoint.bpf.o"];
    assert.ok(engineBytes !== undefined);
    const engine = BpfObject.open(rt, engineBytes, {
      name: "policy_tracepoint.bpf.o",
      reuseMaps: { ...maps.fds },
    });
    maps.close();
    const restore = rt.quiet();
    const pending = engine.loadInBackground();
    process.loadOpened();
    await pending;
    restore();
    // One kernel map each, seen by both objects.
    for (const n of names) {
      const a = readMapFdInfo(process.map(n).fd);
      const b = readMapFdInfo(engine.map(n).fd);
      assert.ok(a !== null && b !== null, n);
      assert.equal(a.id, b.id, `${n} is shared`);
    }
    assert.equal(process.map("exec_binaries").maxEntries, 4096);
    engine.close();
    process.close();
    assert.deepEqual(openFds(), before);
  },
});

Deno.test({
  ...requires(
    "BpfObject.loadInBackground() of a broken object rejects with the errno and leaks nothing",
    "root",
  ),
  async fn() {
    const bytes = await compile(`${ROOT}tests/fixtures/bpf/broken.bpf.c`);
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    const before = openFds();
    const object = BpfObject.open(rt, bytes, { name: "broken.bpf.o" });
    const restore = rt.quiet();
    await assert.rejects(object.loadInBackground(), (err: unknown) => {
      assert.ok(err instanceof BpfError);
      assert.equal(err.errno, 13);
      assert.match(err.message, /load broken\.bpf\.o: EACCES/);
      return true;
    });
    restore();
    object.close();
    assert.deepEqual(openFds(), before);
    // libbpf's messages are back: a load on this thread explains the refusal again.
    assert.throws(
      () => BpfObject.load(rt, bytes, { name: "broken.bpf.o" }),
      (err: unknown) => err instanceof BpfError && err.details.program === "vigil_broken",
    );
  },
});

/** Whether this kernel loads `btf` unchanged (a copy, freed again). */
function kernelTakes(rt: BpfRuntime, btf: Uint8Array): boolean {
  const handle = rt.libbpf.btf__new(new Uint8Array(btf), btf.length);
  assert.ok(handle !== null);
  const rc = rt.libbpf.btf__load_into_kernel(handle);
  rt.libbpf.btf__free(handle);
  rt.takeMessages();
  return rc === 0;
}

/** BTF object and type ids of map `fd` (struct bpf_map_info: btf_id at 64, key 68, value 72). */
function mapBtf(rt: BpfRuntime, fd: number): { btfId: number; key: number; value: number } {
  const info = new Uint8Array(80);
  const len = new Uint32Array([info.length]);
  const rc = rt.libbpf.bpf_obj_get_info_by_fd(fd, info, new Uint8Array(len.buffer));
  assert.equal(rc, 0, `bpf_obj_get_info_by_fd: ${rc}`);
  const view = new DataView(info.buffer);
  return {
    btfId: view.getUint32(64, true),
    key: view.getUint32(68, true),
    value: view.getUint32(72, true),
  };
}
