/** The prober's memo and ordering, with a fake kernel (no BPF, no privileges). */
import assert from "node:assert/strict";
import type { BpfRuntime } from "../../src/bpf/runtime.ts";
import {
  createKernelProber,
  type ProbeRunner,
  type SessionGatherer,
} from "../../src/kernel/features.ts";
import type { StepOutcome } from "../../src/kernel/reasons.ts";
import { FEATURE_NAMES, type FeatureName } from "../../src/kernel/types.ts";
import { failure, fakeEvidence } from "./_fake_evidence.ts";

const ENOMEM = 12;
const EINVAL = 22;

function fakeRuntime(source: "embedded" | "host" = "embedded"): BpfRuntime {
  return { libbpfVersion: "1.1", libbpfSource: source } as unknown as BpfRuntime;
}

const gather: SessionGatherer = (_rt, fn) =>
  fn({ evidence: fakeEvidence(), mounts: [], kernelConfig: null });

/** A runner answering from `answers` (default ok) and counting calls per feature. */
function countingRunner(answers: Partial<Record<FeatureName, StepOutcome>>) {
  const calls = new Map<FeatureName, number>();
  const runner: ProbeRunner = (_rt, spec) => {
    calls.set(spec.feature, (calls.get(spec.feature) ?? 0) + 1);
    return answers[spec.feature] ?? { ok: true };
  };
  return { runner, calls, answers };
}

Deno.test("probe() runs every probe once and reports features in FEATURE_NAMES order", () => {
  const { runner, calls } = countingRunner({});
  const report = createKernelProber({ runProbe: runner, gather }).probe(fakeRuntime());
  assert.deepEqual(Object.keys(report.features), [...FEATURE_NAMES]);
  for (const name of FEATURE_NAMES) {
    assert.equal(calls.get(name), 1, name);
    assert.equal(report.features[name].supported, true, name);
  }
  assert.deepEqual(report.libbpf, { version: "1.1", source: "embedded" });
});

Deno.test("probe() caches definite answers and asks again after an inconclusive one", () => {
  const { runner, calls, answers } = countingRunner({
    kprobe: failure("attach", ENOMEM),
    fentry: failure("load", EINVAL),
  });
  const prober = createKernelProber({ runProbe: runner, gather });
  const first = prober.probe(fakeRuntime());
  assert.equal(first.features.kprobe.supported, null);
  assert.equal(first.features.fentry.supported, false);

  const second = prober.probe(fakeRuntime());
  assert.equal(calls.get("kprobe"), 2, "inconclusive kprobe probed again");
  assert.equal(calls.get("fentry"), 1, "definite fentry answer cached");
  assert.equal(calls.get("tp_btf"), 1, "definite tp_btf answer cached");
  assert.equal(second.features.fentry, first.features.fentry);

  answers.kprobe = { ok: true };
  assert.equal(prober.probe(fakeRuntime()).features.kprobe.supported, true);
  prober.probe(fakeRuntime());
  assert.equal(calls.get("kprobe"), 3, "now definite, so cached");
});

Deno.test("probe() keeps one memo per libbpf", () => {
  const { runner, calls } = countingRunner({});
  const prober = createKernelProber({ runProbe: runner, gather });
  prober.probe(fakeRuntime("embedded"));
  prober.probe(fakeRuntime("host"));
  prober.probe(fakeRuntime("host"));
  assert.equal(calls.get("kprobe"), 2);
});

Deno.test("probe() does not load other probes when the ring buffer map cannot be created", () => {
  const { runner, calls } = countingRunner({
    ringbuf: failure(
      "load",
      EINVAL,
      "libbpf: map 'probe_rb': failed to create: Invalid argument(-22)",
    ),
  });
  const report = createKernelProber({ runProbe: runner, gather }).probe(fakeRuntime());
  assert.equal(report.features.ringbuf.supported, false);
  assert.deepEqual([...calls.keys()], ["ringbuf"]);
  for (const name of FEATURE_NAMES.filter((n) => n !== "ringbuf")) {
    assert.equal(report.features[name].supported, null, name);
    assert.match(report.features[name].reason, /^not probed: .*ring buffer map/);
  }
});
