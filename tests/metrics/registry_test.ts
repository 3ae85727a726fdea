/** The metrics registry: rendering, escaping, bound children, collectors, validation. */
import assert from "node:assert/strict";
import { escapeLabelValue, formatValue, MetricsRegistry } from "../../src/metrics/registry.ts";
import { parseMetricsText } from "../../src/metrics/parse_text.ts";

Deno.test("render() writes HELP, TYPE and samples in registration order", () => {
  const r = new MetricsRegistry();
  const events = r.counter("vigil_events_total", "Events.", ["type", "policy"]);
  const exec = events.labels("process_exec", "");
  exec.inc();
  exec.inc(2);
  r.gauge("vigil_up", "Up.").labels().set(1);
  r.counter("vigil_bytes_total", "Bytes\nwith a \\ newline.");
  assert.equal(
    r.render(),
    [
      "# HELP vigil_events_total Events.",
      "# TYPE vigil_events_total counter",
      'vigil_events_total{type="process_exec",policy=""} 3',
      "# HELP vigil_up Up.",
      "# TYPE vigil_up gauge",
      "vigil_up 1",
      "# HELP vigil_bytes_total Bytes\\nwith a \\\\ newline.",
      "# TYPE vigil_bytes_total counter",
      "vigil_bytes_total 0",
      "",
    ].join("\n"),
  );
});

Deno.test("labels() returns the same child for the same values; remove() forgets it", () => {
  const r = new MetricsRegistry();
  const f = r.counter("x_total", "x", ["a"]);
  assert.equal(f.labels("1"), f.labels("1"));
  assert.notEqual(f.labels("1"), f.labels("2"));
  f.remove("1");
  assert.doesNotMatch(r.render(), /a="1"/);
  assert.match(r.render(), /x_total\{a="2"\} 0/);
  assert.throws(() => f.labels(), /expected 1 label values \(a\), got 0/);
});

Deno.test("collectors are called at every render and may yield bigints", () => {
  const r = new MetricsRegistry();
  let n = 0n;
  r.counter("runs_total", "Runs.", ["id"], {
    collect: () => [{ labels: ["7"], value: n += 10n }, { labels: ["8"], value: 2n ** 64n - 1n }],
  });
  assert.match(r.render(), /^runs_total\{id="7"\} 10$/m);
  const text = r.render();
  assert.match(text, /^runs_total\{id="7"\} 20$/m);
  assert.match(text, /^runs_total\{id="8"\} 18446744073709551615$/m);
});

Deno.test("label values are escaped and round-trip through the parser", () => {
  const r = new MetricsRegistry();
  const nasty = 'a"b\\c\nd}e{f,g="h"';
  r.gauge("g", "G.", ["v"]).labels(nasty).set(1);
  const text = r.render();
  assert.match(text, /^g\{v="a\\"b\\\\c\\nd\}e\{f,g=\\"h\\""\} 1$/m);
  assert.equal(escapeLabelValue('"'), '\\"');
  assert.deepEqual(parseMetricsText(text), [{ name: "g", labels: { v: nasty }, value: 1 }]);
});

Deno.test("formatValue() writes special floats as the text format wants", () => {
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(0.25), "0.25");
  assert.equal(formatValue(12345678901234567890n), "12345678901234567890");
});

Deno.test("registration validates names, labels and types; re-registration is idempotent", () => {
  const r = new MetricsRegistry();
  assert.throws(() => r.counter("events", "x"), /end in _total/);
  assert.throws(() => r.gauge("events_total", "x"), /only counters end in _total/);
  assert.throws(() => r.gauge("bad-name", "x"), /is invalid/);
  assert.throws(() => r.gauge("g", "x", ["__reserved"]), /label name/);
  assert.throws(() => r.gauge("g", "x", ["a", "a"]), /duplicate label names/);
  const a = r.counter("c_total", "x", ["a"]);
  assert.equal(r.counter("c_total", "x", ["a"]), a);
  assert.throws(() => r.counter("c_total", "x", ["b"]), /already registered/);
  assert.throws(() => r.gauge("c_total2", "x").labels("extra"), /expected 0 label values/);
  assert.equal(r.get("c_total"), a);
});

Deno.test("a throwing collector fails the scrape, or is skipped with onCollectError", () => {
  const boom = () => {
    throw new Error("boom");
  };
  const strict = new MetricsRegistry();
  strict.gauge("g", "G.", [], { collect: boom });
  assert.throws(() => strict.render(), /boom/);

  const errors: string[] = [];
  const lenient = new MetricsRegistry({ onCollectError: (name) => errors.push(name) });
  lenient.gauge("g", "G.", [], { collect: boom });
  lenient.gauge("h", "H.").labels().set(2);
  assert.match(lenient.render(), /# TYPE g gauge\n# HELP h H\.\n# TYPE h gauge\nh 2\n$/);
  assert.deepEqual(errors, ["g"]);
});

Deno.test("a bound child's inc() is a plain add (no per-call label work)", () => {
  const r = new MetricsRegistry();
  const child = r.counter("hot_total", "Hot.", ["type", "policy"]).labels("process_exec", "p");
  const N = 5_000_000;
  const t = performance.now();
  for (let i = 0; i < N; i++) child.inc();
  const ns = ((performance.now() - t) * 1e6) / N;
  assert.equal(child.value, N);
  assert.ok(ns < 50, `inc() took ${ns.toFixed(1)} ns`);
});

Deno.test("parseMetricsText() reads what render() writes and rejects garbage", () => {
  const r = new MetricsRegistry();
  r.counter("a_total", "A.", ["x"]).labels("1").inc(3);
  r.gauge("b", "B.").labels().set(-Infinity);
  assert.deepEqual(parseMetricsText(r.render()), [
    { name: "a_total", labels: { x: "1" }, value: 3 },
    { name: "b", labels: {}, value: -Infinity },
  ]);
  assert.throws(() => parseMetricsText("a{x=1} 2"), /bad labels/);
  assert.throws(() => parseMetricsText("a two"), /bad value/);
});
