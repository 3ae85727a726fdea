/**
 * runProbe() with a linger callback: a successful attach probe stays attached until the caller
 * closes it; a refused one is closed at once and never handed over.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PROBE_OBJECT } from "../../src/bpf/objects.ts";
import { openBpfRuntime } from "../../src/bpf/runtime.ts";
import { PROBE_SPECS } from "../../src/kernel/probes.ts";
import { runProbe } from "../../src/kernel/runner.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { requires } from "../_helpers/requires.ts";

/** Fds of this process that hold a BPF program (program, link and perf-event fds name one). */
function programFds(): number {
  let n = 0;
  for (const entry of Deno.readDirSync("/proc/self/fdinfo")) {
    try {
      if (/^prog_id:\s+\d+$/m.test(Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`))) n++;
    } catch { /* the fd of the directory listing itself */ }
  }
  return n;
}

Deno.test(
  requires("runProbe() hands a tracepoint probe's link to linger, attached, until closed", "root"),
  () => {
    using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
    const spec = PROBE_SPECS.find((s) => s.feature === "tracepoint")!;
    const before = programFds();
    const closes: (() => void)[] = [];
    const outcome = runProbe(rt, PROBE_OBJECT, spec, (close) => closes.push(close));
    if (!outcome.ok) {
      // The kernel refused: nothing may linger.
      assert.equal(closes.length, 0);
      assert.equal(programFds(), before);
      return;
    }
    assert.equal(closes.length, 1);
    assert.ok(programFds() > before, "the lingering probe holds its program and link");
    closes[0]!();
    assert.equal(programFds(), before, "closing detached the link and freed the program");
  },
);

Deno.test(requires("runProbe() without linger closes everything itself", "root"), () => {
  using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
  const before = programFds();
  for (const spec of PROBE_SPECS) runProbe(rt, PROBE_OBJECT, spec);
  assert.equal(programFds(), before);
});

Deno.test(requires("runProbe() never hands over a refused probe", "root"), () => {
  using rt = openBpfRuntime({ useHostLibbpf: false, logger: silentLogger });
  const before = programFds();
  for (const spec of PROBE_SPECS) {
    const closes: (() => void)[] = [];
    const outcome = runProbe(rt, PROBE_OBJECT, spec, (close) => closes.push(close));
    if (!outcome.ok) assert.equal(closes.length, 0, `${spec.feature} refused but lingered`);
    for (const close of closes) close();
  }
  assert.equal(programFds(), before);
});
