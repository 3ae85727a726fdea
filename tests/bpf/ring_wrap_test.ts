/**
 * The ring reader maps the data area once: records that cross its end are copied before the
 * handler sees them. A 4 KiB ring of 48-byte records (4096 is no multiple of 48) makes records
 * straddle the end every lap; every sequence number must arrive once, in order, intact.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RODATA, STRUCTS } from "../../src/bpf/abi.gen.ts";
import { BpfObject } from "../../src/bpf/object.ts";
import { openBpfRuntime } from "../../src/bpf/runtime.ts";
import { decodeRecord } from "../../src/events/decode.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { RingReader } from "../../src/ringbuf/reader.ts";
import { requires } from "../_helpers/requires.ts";
import { BENCH_PROGRAMS } from "../../bench/_lib.ts";

const BENCH_OBJECT = new URL("../../bpf/out/bench.bpf.o", import.meta.url);

Deno.test({
  ...requires("RingReader hands over records that cross the end of the ring whole", "root"),
  fn() {
    const recordBytes = STRUCTS.vigil_bench.size + 8;
    const ringBytes = 4096;
    assert.notEqual(ringBytes % recordBytes, 0, "records must straddle the end of the ring");
    const perCall = 4;
    const cfg = RODATA["bench.bpf.o"].bench_cfg.offset;
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    using obj = BpfObject.load(rt, Deno.readFileSync(BENCH_OBJECT), {
      name: "bench.bpf.o",
      autoload: Object.fromEntries(BENCH_PROGRAMS.map((p) => [p, p === "bench_produce"])),
      maxEntries: { bench_events: ringBytes },
      rodata: (view) => {
        view.setUint32(cfg + 0, Deno.pid, true); // target_tgid: this test's own getppid calls
        view.setUint32(cfg + 4, perCall, true);
      },
    });
    using _link = obj.attach("bench_produce");
    using reader = new RingReader(rt.libc, obj.map("bench_events").fd, ringBytes);
    const libc = Deno.dlopen(
      "libc.so.6",
      {
        getppid: { parameters: [], result: "i32" },
      } as const,
    );
    try {
      checkLaps(reader, libc.symbols.getppid, ringBytes, perCall);
    } finally {
      libc.close();
    }
    assert.equal(obj.map("counters").sumPerCpuCounters()[0] ?? 0n, 0n);
  },
});

function checkLaps(reader: RingReader, getppid: () => number, ringBytes: number, perCall: number) {
  let expected = 0;
  let crossing = 0;
  let position = 0;
  for (let lap = 0; lap < 60; lap++) {
    for (let i = 0; i < 10; i++) getppid(); // 40 records: under half the ring
    reader.drain((view, at, length) => {
      const data = (position + 8) % ringBytes;
      if (data + length > ringBytes) crossing++;
      position = (position + ((length + 8 + 7) & ~7)) % ringBytes;
      const r = decodeRecord(view, at, length);
      assert.equal(r.kind, "bench");
      if (r.kind !== "bench") return;
      assert.equal(r.seq, expected, `record ${expected}`);
      assert.equal(r.value, expected % perCall);
      assert.equal(r.pid, Deno.pid);
      expected++;
    }, 1_000_000);
  }
  assert.equal(expected, 60 * 10 * perCall);
  assert.ok(crossing >= 10, `only ${crossing} records crossed the end of the ring`);
}
