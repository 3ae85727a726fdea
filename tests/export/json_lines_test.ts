import assert from "node:assert/strict";
import { createJsonLinesExporter, ExportOpenError } from "../../src/export/json_lines.ts";
import type { ExportSink } from "../../src/export/json_lines.ts";
import { backupPath, rotateFiles } from "../../src/export/rotate.ts";
import { createLogger, type Logger } from "../../src/log/logger.ts";

const decoder = new TextDecoder();

function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "vigil_export_test_" });
}

function read(path: string): string {
  return Deno.readTextFileSync(path);
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Deterministic pseudo-random lines: ASCII, multi-byte text, escapes, some long ones. */
function sampleLines(count: number, seed = 1): string[] {
  let x = seed;
  const rand = (n: number): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  const pieces = ["exec", "ü", "日本語", "😀", '\\"', "/usr/bin/x", " ", "0123456789"];
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = `{"i":${i},"v":"`;
    const len = rand(10) === 0 ? rand(3000) : rand(60);
    for (let j = 0; j < len; j++) s += pieces[rand(pieces.length)];
    lines.push(s + '"}');
  }
  return lines;
}

Deno.test("JsonLinesExporter output is byte-identical to naive line-by-line writing", () => {
  const dir = tempDir();
  try {
    const lines = sampleLines(5000);
    const expected = lines.map((l) => l + "\n").join("");
    for (const bufferBytes of [64, 1000, 4096, 1 << 20]) {
      const path = `${dir}/out-${bufferBytes}.json`;
      const out = createJsonLinesExporter({ path, bufferBytes });
      for (const l of lines) out.writeLine(l);
      out.close();
      const bytes = Deno.readFileSync(path);
      assert.equal(decoder.decode(bytes), expected, `bufferBytes ${bufferBytes}`);
      assert.equal(out.counters.linesWritten, lines.length);
      assert.equal(out.counters.bytesWritten, bytes.length);
      assert.equal(out.counters.errors, 0);
      assert.equal(out.counters.rotations, 0);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JsonLinesExporter buffers until flush() and writes nothing per line", () => {
  const writes: number[] = [];
  const sink: ExportSink = {
    writeSync(p) {
      writes.push(p.length);
      return p.length;
    },
  };
  const out = createJsonLinesExporter({ path: "test", sink, bufferBytes: 1 << 20 });
  for (let i = 0; i < 10_000; i++) out.writeLine(`{"n":${i}}`);
  assert.deepEqual(writes, [], "nothing written before the buffer fills");
  out.flush();
  assert.equal(writes.length, 1, "one write for the whole batch");
  out.flush();
  assert.equal(writes.length, 1, "an empty flush writes nothing");
  for (let i = 0; i < 200_000; i++) out.writeLine(`{"n":${i}}`);
  out.flush();
  const total = writes.reduce((a, b) => a + b, 0);
  assert.equal(total, out.counters.bytesWritten);
  assert.ok(writes.length <= 4, `${writes.length} writes for ~2.3 MB`);
});

Deno.test("JsonLinesExporter continues after short and interrupted writes", () => {
  const chunks: Uint8Array[] = [];
  let calls = 0;
  const sink: ExportSink = {
    writeSync(p) {
      calls++;
      if (calls % 5 === 0) throw new Deno.errors.Interrupted("EINTR");
      const n = Math.min(p.length, 7);
      chunks.push(p.slice(0, n));
      return n;
    },
  };
  const lines = sampleLines(300, 7);
  const out = createJsonLinesExporter({ path: "short", sink, bufferBytes: 256 });
  for (const l of lines) out.writeLine(l);
  out.close();
  const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  assert.equal(decoder.decode(all), lines.map((l) => l + "\n").join(""));
  assert.equal(out.counters.errors, 0);
});

Deno.test("JsonLinesExporter rotates at maxBytes on line boundaries and keeps maxBackups", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    const out = createJsonLinesExporter({ path, maxBytes: 1000, maxBackups: 3, bufferBytes: 4096 });
    const lines: string[] = [];
    for (let i = 0; i < 55; i++) {
      const line = `{"n":${String(i).padStart(3, "0")},"pad":"${"x".repeat(81)}"}`;
      assert.equal(line.length + 1, 100);
      lines.push(line);
      out.writeLine(line);
      if (i % 7 === 0) out.flush();
    }
    out.close();
    // 100-byte lines, 1000-byte limit: exactly 10 lines per full file.
    assert.equal(out.counters.rotations, 5);
    assert.ok(!exists(backupPath(path, 4)), "the oldest backup was dropped");
    const files = [backupPath(path, 3), backupPath(path, 2), backupPath(path, 1), path];
    for (const f of files.slice(0, 3)) assert.equal(Deno.statSync(f).size, 1000, f);
    assert.equal(Deno.statSync(path).size, 500);
    assert.equal(
      files.map(read).join(""),
      lines.slice(20).map((l) => l + "\n").join(""),
      "backups hold the newest lines, in order",
    );
    assert.equal(out.counters.linesWritten, 55);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JsonLinesExporter never lets a rotated file exceed maxBytes", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    const maxBytes = 10_000;
    const lines = sampleLines(1200, 3).filter((l) => new TextEncoder().encode(l).length < 9000);
    const out = createJsonLinesExporter({ path, maxBytes, maxBackups: 400, bufferBytes: 32768 });
    for (const l of lines) out.writeLine(l);
    out.close();
    const files: string[] = [];
    for (let i = out.counters.rotations; i >= 1; i--) files.push(backupPath(path, i));
    files.push(path);
    for (const f of files) {
      const text = read(f);
      assert.ok(new TextEncoder().encode(text).length <= maxBytes, f);
      assert.ok(text.endsWith("\n"), `${f} ends with a whole line`);
    }
    for (const f of files.slice(0, -1)) {
      // Rotated early only if the next line did not fit.
      const size = Deno.statSync(f).size;
      assert.ok(size > maxBytes - 9000, `${f} is ${size} bytes`);
    }
    assert.equal(files.map(read).join(""), lines.map((l) => l + "\n").join(""));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JsonLinesExporter writes a line longer than maxBytes whole into a fresh file", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    const out = createJsonLinesExporter({ path, maxBytes: 100, maxBackups: 5, bufferBytes: 64 });
    out.writeLine("small");
    out.writeLine("L".repeat(250));
    out.writeLine("after");
    out.close();
    assert.equal(read(backupPath(path, 2)), "small\n");
    assert.equal(read(backupPath(path, 1)), "L".repeat(250) + "\n");
    assert.equal(read(path), "after\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JsonLinesExporter counts an existing file's size and appends to it", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    Deno.writeTextFileSync(path, "old-1\nold-2\n");
    const out = createJsonLinesExporter({ path, maxBytes: 20, maxBackups: 2 });
    out.writeLine("new-1");
    out.writeLine("new-2");
    out.close();
    assert.equal(read(backupPath(path, 1)), "old-1\nold-2\nnew-1\n");
    assert.equal(read(path), "new-2\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JsonLinesExporter with maxBackups 0 starts the file over; maxBytes 0 never rotates", () => {
  const dir = tempDir();
  try {
    const a = `${dir}/a.json`;
    const out = createJsonLinesExporter({ path: a, maxBytes: 10, maxBackups: 0 });
    for (const l of ["one", "two", "three", "four"]) out.writeLine(l);
    out.close();
    assert.equal(read(a), "four\n");
    assert.ok(!exists(backupPath(a, 1)));
    assert.equal(out.counters.rotations, 2);

    const b = `${dir}/b.json`;
    const never = createJsonLinesExporter({ path: b, maxBytes: 0, bufferBytes: 64 });
    for (let i = 0; i < 1000; i++) never.writeLine(`line ${i}`);
    never.close();
    assert.equal(never.counters.rotations, 0);
    assert.equal(read(b).split("\n").length, 1001);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JsonLinesExporter does not rotate a character device", async () => {
  const dir = tempDir();
  try {
    const path = `${dir}/null`;
    const mknod = await new Deno.Command("mknod", { args: [path, "c", "1", "3"] }).output();
    if (!mknod.success) return; // needs root; /dev/null itself is never put at risk
    const out = createJsonLinesExporter({ path, maxBytes: 100 });
    for (let i = 0; i < 100; i++) out.writeLine("0123456789");
    out.close();
    assert.equal(out.counters.rotations, 0);
    assert.equal(out.counters.bytesWritten, 1100);
    assert.ok(Deno.statSync(path).isCharDevice);
    assert.ok(!exists(backupPath(path, 1)));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("createJsonLinesExporter() fails on an unopenable path, naming it and the reason", () => {
  const dir = tempDir();
  try {
    Deno.writeTextFileSync(`${dir}/file`, "");
    const cases: [string, RegExp][] = [
      [`${dir}/missing/events.json`, /No such file or directory/],
      [dir, /Is a directory/],
      [`${dir}/file/events.json`, /Not a directory/],
    ];
    for (const [path, reason] of cases) {
      assert.throws(() => createJsonLinesExporter({ path }), (err: unknown) => {
        assert.ok(err instanceof ExportOpenError);
        assert.equal(err.path, path);
        assert.ok(err.message.includes(`"${path}"`), err.message);
        assert.match(err.message, reason);
        assert.ok(!err.message.includes("\n"), "one line");
        return true;
      });
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("createJsonLinesExporter() rejects bad sizes", () => {
  assert.throws(() => createJsonLinesExporter({ path: "-", maxBytes: -1 }), RangeError);
  assert.throws(() => createJsonLinesExporter({ path: "-", bufferBytes: 10 }), RangeError);
  assert.throws(() => createJsonLinesExporter({ path: "-", maxBackups: 1.5 }), RangeError);
});

Deno.test("JsonLinesExporter counts write errors instead of throwing", () => {
  const errors: Error[] = [];
  const out = createJsonLinesExporter({ path: "/dev/full", onError: (e) => errors.push(e) });
  out.writeLine('{"a":1}');
  out.writeLine('{"a":2}');
  out.flush();
  out.writeLine('{"a":3}');
  out.close();
  assert.equal(out.counters.errors, 2);
  assert.equal(out.counters.linesDropped, 3);
  assert.equal(out.counters.linesWritten, 0);
  assert.equal(errors.length, 2);
  assert.match(errors[0]!.message, /space/i);
});

Deno.test("JsonLinesExporter starts a new line after a write failed mid-line", () => {
  let text = "";
  let calls = 0;
  const sink: ExportSink = {
    writeSync(p) {
      calls++;
      if (calls === 1) {
        text += decoder.decode(p.subarray(0, 5));
        return 5; // a short write…
      }
      if (calls === 2) throw new Error("EIO"); // …then the rest fails
      text += decoder.decode(p);
      return p.length;
    },
  };
  const out = createJsonLinesExporter({ path: "flaky", sink });
  out.writeLine('{"lost":1}');
  out.flush(); // 5 bytes written, then EIO: counted, not thrown
  assert.equal(out.counters.errors, 1);
  assert.equal(out.counters.linesDropped, 1);
  out.writeLine('{"ok":2}');
  out.flush();
  assert.equal(text, '{"los\n{"ok":2}\n');
  assert.equal(out.counters.linesWritten, 1);
});

Deno.test("JsonLinesExporter keeps writing when a rotation fails", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    // A non-empty directory where the oldest backup goes: it cannot be removed.
    Deno.mkdirSync(backupPath(path, 1));
    Deno.writeTextFileSync(`${backupPath(path, 1)}/keep`, "");
    const out = createJsonLinesExporter({ path, maxBytes: 20, maxBackups: 1 });
    for (let i = 0; i < 10; i++) out.writeLine(`line-${i}`);
    out.close();
    assert.ok(out.counters.errors >= 1);
    assert.equal(out.counters.rotations, 0);
    assert.equal(out.counters.linesWritten, 10);
    assert.equal(read(path), Array.from({ length: 10 }, (_, i) => `line-${i}\n`).join(""));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("JsonLinesExporter.close() is idempotent; later lines are counted as dropped", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    const out = createJsonLinesExporter({ path });
    out.writeLine("a");
    out.close();
    out.close();
    out.writeLine("b");
    out.flush();
    assert.equal(read(path), "a\n");
    assert.equal(out.counters.linesDropped, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test('JsonLinesExporter writes to stdout for path "-"', async () => {
  const module = new URL("../../src/export/json_lines.ts", import.meta.url).href;
  const script = `import { createJsonLinesExporter } from ${JSON.stringify(module)};
const out = createJsonLinesExporter({ path: "-", bufferBytes: 64 });
for (let i = 0; i < 100; i++) out.writeLine(JSON.stringify({ i, s: "ü".repeat(i % 7) }));
out.close();`;
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(res.code, 0, decoder.decode(res.stderr));
  const expected = Array.from(
    { length: 100 },
    (_, i) => JSON.stringify({ i, s: "ü".repeat(i % 7) }) + "\n",
  ).join("");
  assert.equal(decoder.decode(res.stdout), expected);
});

Deno.test("rotateFiles() shifts backups and drops the oldest", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/e.json`;
    Deno.writeTextFileSync(path, "current");
    for (let i = 1; i <= 3; i++) Deno.writeTextFileSync(backupPath(path, i), `backup ${i}`);
    rotateFiles(path, 3);
    assert.ok(!exists(path));
    assert.equal(read(backupPath(path, 1)), "current");
    assert.equal(read(backupPath(path, 2)), "backup 1");
    assert.equal(read(backupPath(path, 3)), "backup 2");
    assert.ok(!exists(backupPath(path, 4)));
    rotateFiles(`${dir}/absent.json`, 3); // nothing to do, no error
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** A capture logger: every line as an object. */
function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: createLogger({ write: (l) => lines.push(JSON.parse(l)) }), lines };
}

/** An in-memory regular file that fills up after `capacity` bytes (short write, then ENOSPC). */
class FullDisk implements ExportSink {
  data = new Uint8Array(0);
  constructor(public capacity: number) {}
  writeSync(p: Uint8Array): number {
    const room = this.capacity - this.data.length;
    if (room <= 0) throw new Error("No space left on device (os error 28)");
    const n = Math.min(room, p.length);
    const next = new Uint8Array(this.data.length + n);
    next.set(this.data);
    next.set(p.subarray(0, n), this.data.length);
    this.data = next;
    return n;
  }
  statSync(): { size: number } {
    return { size: this.data.length };
  }
  truncateSync(len = 0): void {
    this.data = this.data.slice(0, len);
  }
}

Deno.test("a full disk never leaves a cut line: the partial line is truncated away, losses counted", () => {
  const disk = new FullDisk(1000);
  const { logger, lines } = captureLogger();
  const out = createJsonLinesExporter({ path: "full", sink: disk, logger });
  const sent = sampleLines(200, 7).filter((l) => l.length < 300);
  for (const l of sent) out.writeLine(l);
  out.flush(); // fills the disk mid-line
  for (const l of sent) out.writeLine(l);
  out.flush(); // nothing fits
  const text = decoder.decode(disk.data);
  assert.ok(text.endsWith("\n"), "the file ends with a whole line");
  const written = text.split("\n").slice(0, -1);
  for (const l of written) JSON.parse(l);
  assert.deepEqual(written, sent.slice(0, written.length), "the whole lines, in order");
  assert.equal(out.counters.linesWritten, written.length);
  assert.equal(
    out.counters.linesDropped,
    2 * sent.length - written.length,
    "every lost line counted",
  );
  assert.equal(out.counters.errors, 2);
  // One log line for both failures (rate-limited), naming the loss.
  const loss = lines.filter((l) => l.msg === "export: write failed; events lost");
  assert.equal(loss.length, 1);
  assert.equal(loss[0]!.lost_events, sent.length - written.length);
  assert.match(String(loss[0]!.error), /No space left on device/);
  // Space again: writing resumes on a line boundary, and the recovery is logged with the losses.
  disk.capacity = 1 << 20;
  out.writeLine('{"after":1}');
  out.flush();
  assert.ok(decoder.decode(disk.data).endsWith('\n{"after":1}\n'));
  const again = lines.find((l) => l.msg === "export: writing again");
  assert.equal(again?.lost_events, sent.length, "the second batch, not logged yet");
  assert.equal(again?.lost_events_total, out.counters.linesDropped);
});

Deno.test("loss lines are rate-limited to one per interval", () => {
  const { logger, lines } = captureLogger();
  const out = createJsonLinesExporter({ path: "/dev/full", logger, lossLogIntervalMs: 60_000 });
  for (let i = 0; i < 50; i++) {
    out.writeLine(`{"i":${i}}`);
    out.flush();
  }
  assert.equal(out.counters.errors, 50);
  assert.equal(out.counters.linesDropped, 50);
  assert.equal(lines.filter((l) => l.msg === "export: write failed; events lost").length, 1);
  out.close();
});

function lineSet(...paths: string[]): string[] {
  return paths.flatMap((p) => exists(p) ? read(p).split("\n").filter((l) => l !== "") : []);
}

Deno.test("a renamed export file (logrotate's default) is noticed: a new file, nothing lost", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    const { logger, lines } = captureLogger();
    const out = createJsonLinesExporter({ path, logger });
    out.writeLine('{"n":1}');
    out.flush();
    Deno.renameSync(path, `${path}.1`);
    out.writeLine('{"n":2}');
    out.flush();
    assert.equal(read(`${path}.1`), '{"n":1}\n');
    assert.equal(read(path), '{"n":2}\n', "written to a new file at the path");
    assert.equal(out.counters.reopens, 1);
    assert.equal(lines[0]?.msg, "export: reopened the export file");
    assert.equal(lines[0]?.reason, "it was renamed or deleted");
    out.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a deleted or replaced export file is reopened; copytruncate continues at the new end", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    const out = createJsonLinesExporter({ path });
    out.writeLine('{"n":1}');
    out.flush();
    Deno.removeSync(path);
    out.writeLine('{"n":2}');
    out.flush();
    assert.equal(read(path), '{"n":2}\n');
    // Replaced by another file (logrotate `create` before our check).
    Deno.renameSync(path, `${path}.old`);
    Deno.writeTextFileSync(path, "");
    out.writeLine('{"n":3}');
    out.flush();
    assert.equal(read(path), '{"n":3}\n');
    assert.equal(out.counters.reopens, 2);
    // copytruncate: the same inode, emptied; no hole of NULs, no reopen.
    Deno.copyFileSync(path, `${path}.1`);
    Deno.truncateSync(path, 0);
    out.writeLine('{"n":4}');
    out.flush();
    assert.equal(read(path), '{"n":4}\n');
    assert.equal(out.counters.reopens, 2);
    out.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("reopen() (SIGHUP) writes what is buffered, then follows the path", () => {
  const dir = tempDir();
  try {
    const path = `${dir}/events.json`;
    const out = createJsonLinesExporter({ path, reopenCheckMs: 3_600_000 });
    out.writeLine('{"n":1}');
    out.flush(); // the first check is done; the next one only in an hour
    out.writeLine('{"n":2}');
    Deno.renameSync(path, `${path}.1`);
    out.reopen();
    out.writeLine('{"n":3}');
    out.close();
    assert.deepEqual(lineSet(`${path}.1`, path), ['{"n":1}', '{"n":2}', '{"n":3}']);
    assert.equal(read(path), '{"n":3}\n');
    assert.equal(out.counters.reopens, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
