/**
 * The JSON-lines event exporter: one event per line to a file (with size-based rotation) or to
 * stdout, batched for throughput.
 *
 * Hot path (`writeLine`): the line is appended to a pending string (two concatenations, no
 * encoding). Every ~32 K characters the pending string is encoded with one
 * `TextEncoder.encodeInto` into a preallocated byte buffer; when the buffer cannot take the next
 * chunk it is written with one `writeSync` loop (short writes continue where they stopped). There
 * are no per-line syscalls and no per-line allocations beyond the strings themselves. The buffer
 * only ever holds whole lines, so rotation always cuts at a line boundary.
 *
 * Nothing is written until the buffer fills or `flush()` is called: the agent calls `flush()` after
 * each drained batch of events (and `close()` at shutdown).
 *
 * Errors: opening the file fails at creation with an {@link ExportOpenError} naming the path and the
 * OS reason. After that, write and rotation errors never throw: they are counted (`errors`), the
 * lines that did not reach the file are counted as dropped (`linesDropped`), `onError` is told,
 * and the logger gets one line per `lossLogIntervalMs` at most (a full disk fails every batch).
 * A write that stopped inside a line (ENOSPC after a short write) is cut back to the last whole
 * line with `ftruncate`, so a consumer reading line by line never sees broken JSON.
 *
 * Log rotation: before each write the path is `stat`ed (one syscall per buffer, not per line) and
 * compared with the open file's device and inode; a path that was renamed away, deleted or
 * replaced is reopened (created), so logrotate's default rename and a deleted file lose nothing
 * written after the check. `reopen()` (SIGHUP) does the same on demand. With `copytruncate` the
 * file keeps its inode and shrinks; writes are `O_APPEND`, so they continue at its new end.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";
import { rotateFiles } from "./rotate.ts";

/** Options of {@link createJsonLinesExporter}. */
export interface JsonLinesExporterOptions {
  /** File to append to, or "-" for stdout. */
  path: string;
  /**
   * Rotate before the file would exceed this many bytes; default 100 MiB; 0 = never. Applies to
   * regular files only (not stdout, `/dev/null`, FIFOs). A single line longer than the limit is
   * written whole into a fresh file.
   */
  maxBytes?: number;
  /** Backups kept as `path.1` (newest) … `path.N`; the oldest is dropped; default 5. */
  maxBackups?: number;
  /** Size of the write buffer in bytes; default 1 MiB; at least 64. */
  bufferBytes?: number;
  /** Told about each write or rotation error after start (they are also counted). */
  onError?: (err: Error) => void;
  /** Gets a rate-limited line about failed writes and lost events (and about reopened files). */
  logger?: Logger;
  /** At most one loss line per this many ms (default 10,000); the next one sums the interval. */
  lossLogIntervalMs?: number;
  /**
   * Check that the path still names the open file at most this often, in ms, before a write
   * (default 0: before every write; it is one `stat` per buffer written).
   */
  reopenCheckMs?: number;
  /**
   * Write here instead of opening `path` (which then only names the destination in messages; no
   * rotation): for tests and other byte streams.
   */
  sink?: ExportSink;
}

/** A byte destination: `writeSync` writes a prefix of `p` and returns its length (as `Deno.FsFile`). */
export interface ExportSink {
  writeSync(p: Uint8Array): number;
  close?(): void;
  /** When present (a regular file), a cut line is removed again after a failed write. */
  truncateSync?(len?: number): void;
  statSync?(): { size: number };
}

/** Counters of a {@link JsonLinesExporter}. */
export interface JsonLinesCounters {
  /** Lines handed to the OS in full. */
  linesWritten: number;
  /** Bytes handed to the OS (including parts of failed batches). */
  bytesWritten: number;
  /** Completed rotations. */
  rotations: number;
  /** Failed writes, rotations and closes. */
  errors: number;
  /** Lines lost to failed writes, or written after `close()`. */
  linesDropped: number;
  /** Times the export file was reopened (renamed, deleted or replaced, or `reopen()`). */
  reopens: number;
}

/** A JSON-lines exporter; see the module documentation. */
export interface JsonLinesExporter {
  /** The configured path ("-" = stdout). */
  readonly path: string;
  /** Live counters (read-only view). */
  readonly counters: Readonly<JsonLinesCounters>;
  /** Appends one line (`json` must not contain a newline; one is added). */
  writeLine(json: string): void;
  /** Writes everything buffered. */
  flush(): void;
  /**
   * Writes what is buffered, then makes sure the open file is the one at `path` again (reopens
   * it when it was renamed, deleted or replaced); for SIGHUP after log rotation. Never throws.
   */
  reopen(): void;
  /** Flushes and closes the file; later lines are counted as dropped. Idempotent. */
  close(): void;
  /** Same as {@link close}. */
  [Symbol.dispose](): void;
}

/** Thrown by {@link createJsonLinesExporter} when the export file cannot be opened for writing. */
export class ExportOpenError extends Error {
  override name = "ExportOpenError";
  /** The path that could not be opened. */
  readonly path: string;

  constructor(path: string, cause: unknown) {
    super(`cannot open export file "${path}" for writing: ${osReason(cause)}`, { cause });
    this.path = path;
  }
}

/** The defaults of {@link JsonLinesExporterOptions}. */
export const EXPORT_DEFAULTS = {
  maxBytes: 100 * 1024 * 1024,
  maxBackups: 5,
  bufferBytes: 1024 * 1024,
} as const;
const MIN_BUFFER_BYTES = 64;
/** Characters accumulated before one encodeInto; ~32 KiB keeps concatenation cheap. */
const MAX_CHUNK_CHARS = 32 * 1024;
const NEWLINE = 10;
const NEWLINE_BYTES = new Uint8Array([NEWLINE]);

/**
 * Opens the export destination and returns the exporter; throws {@link ExportOpenError} when `path`
 * cannot be opened for appending (missing directory, a directory, permissions, …).
 *
 * @example
 * ```ts
 * const out = createJsonLinesExporter({ path: "/var/log/vigil/events.json", maxBytes: 10 << 20 });
 * out.writeLine('{"process_exec":{}}');
 * out.flush(); // after each batch
 * out.close(); // at shutdown
 * ```
 */
export function createJsonLinesExporter(options: JsonLinesExporterOptions): JsonLinesExporter {
  return new JsonLinesWriter(options);
}

class JsonLinesWriter implements JsonLinesExporter {
  readonly path: string;
  readonly counters: JsonLinesCounters = {
    linesWritten: 0,
    bytesWritten: 0,
    rotations: 0,
    errors: 0,
    linesDropped: 0,
    reopens: 0,
  };

  readonly #maxBytes: number;
  readonly #maxBackups: number;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #logger: Logger | undefined;
  readonly #lossLogIntervalMs: number;
  readonly #reopenCheckMs: number;
  /** The path is ours to watch and reopen (a file we opened, not stdout or a given sink). */
  readonly #watch: boolean;
  /** Device and inode of the open file. */
  #dev = 0;
  #ino = 0;
  #lastCheck = -Infinity;
  /** Lost lines not yet logged, and when the last loss line was logged. */
  #unloggedLost = 0;
  #unloggedErrors = 0;
  #lastLossLog = -Infinity;
  #failing = false;
  readonly #encoder = new TextEncoder();
  readonly #buf: Uint8Array;
  readonly #chunkChars: number;

  #sink: ExportSink;
  /** Rotation applies (a regular file with maxBytes > 0). */
  #rotating: boolean;
  /** Bytes in the current file. */
  #fileBytes: number;
  /**
   * The last write stopped inside a line and the cut part could not be removed (not a regular
   * file): the next write starts a new line.
   */
  #midLine = false;
  /** Bytes of `#emit`'s buffer handed to the OS so far (an index into it). */
  #emitted = 0;
  #closed = false;

  #pending = "";
  #pendingChars = 0;
  #pendingLines = 0;
  #bufLen = 0;
  #bufLines = 0;

  constructor(options: JsonLinesExporterOptions) {
    const maxBytes = options.maxBytes ?? EXPORT_DEFAULTS.maxBytes;
    const maxBackups = options.maxBackups ?? EXPORT_DEFAULTS.maxBackups;
    const bufferBytes = options.bufferBytes ?? EXPORT_DEFAULTS.bufferBytes;
    checkInt("maxBytes", maxBytes, 0);
    checkInt("maxBackups", maxBackups, 0);
    checkInt("bufferBytes", bufferBytes, MIN_BUFFER_BYTES);
    const lossLogIntervalMs = options.lossLogIntervalMs ?? 10_000;
    const reopenCheckMs = options.reopenCheckMs ?? 0;
    checkInt("lossLogIntervalMs", lossLogIntervalMs, 0);
    checkInt("reopenCheckMs", reopenCheckMs, 0);
    this.path = options.path;
    this.#maxBytes = maxBytes;
    this.#maxBackups = maxBackups;
    this.#onError = options.onError;
    this.#logger = options.logger;
    this.#lossLogIntervalMs = lossLogIntervalMs;
    this.#reopenCheckMs = reopenCheckMs;
    this.#watch = options.sink === undefined && options.path !== "-";
    this.#buf = new Uint8Array(bufferBytes);
    // A chunk encodes to at most 3 bytes per UTF-16 unit, so it always fits an empty buffer.
    this.#chunkChars = Math.min(MAX_CHUNK_CHARS, Math.floor(bufferBytes / 3));

    if (options.sink !== undefined) {
      this.#sink = options.sink;
      this.#rotating = false;
      this.#fileBytes = 0;
    } else if (options.path === "-") {
      this.#sink = Deno.stdout;
      this.#rotating = false;
      this.#fileBytes = 0;
    } else {
      const file = openForAppend(options.path);
      let info: Deno.FileInfo;
      try {
        info = file.statSync();
      } catch (err) {
        file.close();
        throw new ExportOpenError(options.path, err);
      }
      this.#sink = file;
      this.#rotating = maxBytes > 0 && info.isFile;
      this.#fileBytes = info.size;
      this.#dev = info.dev;
      this.#ino = info.ino ?? 0;
    }
  }

  writeLine(json: string): void {
    if (this.#closed) {
      this.counters.linesDropped++;
      return;
    }
    const n = json.length + 1;
    if (this.#pendingChars + n > this.#chunkChars) {
      this.#encodePending();
      if (n > this.#chunkChars) {
        this.#writeLong(json);
        return;
      }
    }
    this.#pending += json;
    this.#pending += "\n";
    this.#pendingChars += n;
    this.#pendingLines++;
  }

  flush(): void {
    this.#encodePending();
    this.#writeBuffer();
  }

  reopen(): void {
    if (this.#closed) return;
    this.flush();
    if (!this.#watch) return;
    this.#lastCheck = -Infinity;
    this.#checkPath("signal");
  }

  /**
   * Reopens `path` when it no longer names the open file (renamed, deleted, replaced); notices a
   * truncation (copytruncate). Throttled by `reopenCheckMs`; never throws.
   */
  #checkPath(why: "write" | "signal"): void {
    if (!this.#watch) return;
    const now = performance.now();
    if (now - this.#lastCheck < this.#reopenCheckMs) return;
    this.#lastCheck = now;
    let info: Deno.FileInfo | null;
    try {
      info = Deno.statSync(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) return; // cannot tell: keep the open file
      info = null;
    }
    if (info !== null && info.dev === this.#dev && (info.ino ?? 0) === this.#ino) {
      if (info.size < this.#fileBytes) this.#fileBytes = info.size; // truncated under us
      return;
    }
    let next: Deno.FsFile;
    let nextInfo: Deno.FileInfo;
    try {
      next = openForAppend(this.path);
      nextInfo = next.statSync();
    } catch (err) {
      this.#fail(err, 0);
      return;
    }
    const old = this.#sink;
    this.#sink = next;
    this.#dev = nextInfo.dev;
    this.#ino = nextInfo.ino ?? 0;
    this.#fileBytes = nextInfo.size;
    this.#midLine = false;
    try {
      old.close?.();
    } catch {
      // Everything was written to it; a failing close loses nothing.
    }
    this.counters.reopens++;
    this.#logger?.info("export: reopened the export file", {
      path: this.path,
      reason: info === null ? "it was renamed or deleted" : "it was replaced",
      on: why === "signal" ? "SIGHUP" : "write",
    });
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#sink.close !== undefined && this.#sink !== Deno.stdout) {
      try {
        this.#sink.close();
      } catch (err) {
        this.#fail(err, 0);
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Encodes the pending string into the buffer, writing the buffer out first if it may not fit. */
  #encodePending(): void {
    if (this.#pendingChars === 0) return;
    const buf = this.#buf;
    if (buf.length - this.#bufLen < this.#pendingChars * 3) this.#writeBuffer();
    const dest = this.#bufLen === 0 ? buf : buf.subarray(this.#bufLen);
    this.#bufLen += this.#encoder.encodeInto(this.#pending, dest).written;
    this.#bufLines += this.#pendingLines;
    this.#pending = "";
    this.#pendingChars = 0;
    this.#pendingLines = 0;
  }

  #writeBuffer(): void {
    if (this.#bufLen === 0) return;
    this.#checkPath("write");
    const len = this.#bufLen;
    const lines = this.#bufLines;
    this.#bufLen = 0;
    this.#bufLines = 0;
    this.#emit(this.#buf, len, lines);
  }

  /** A line too long for a chunk: written on its own, after what is buffered. */
  #writeLong(json: string): void {
    this.#writeBuffer();
    this.#checkPath("write");
    const bytes = this.#encoder.encode(json + "\n");
    this.#emit(bytes, bytes.length, 1);
  }

  /** Writes `bytes[0, end)` (whole lines), rotating at line boundaries; never throws. */
  #emit(bytes: Uint8Array, end: number, lines: number): void {
    if (this.#midLine) {
      try {
        this.#writeAll(NEWLINE_BYTES, 0, 1);
        this.#midLine = false;
      } catch (err) {
        this.#fail(err, lines);
        return;
      }
    }
    this.#emitted = 0;
    try {
      let start = 0;
      while (start < end) {
        if (!this.#rotating) {
          this.#writeAll(bytes, start, end);
          break;
        }
        const room = this.#maxBytes - this.#fileBytes;
        if (end - start <= room) {
          this.#writeAll(bytes, start, end);
          break;
        }
        // The last line that still fits ends at the last newline inside the room.
        const cut = room > 0 ? bytes.lastIndexOf(NEWLINE, start + room - 1) : -1;
        if (cut >= start) {
          this.#writeAll(bytes, start, cut + 1);
          start = cut + 1;
          this.#rotate();
        } else if (this.#fileBytes > 0) {
          this.#rotate();
        } else {
          // An empty file and a first line longer than maxBytes: write that line whole.
          const nl = bytes.indexOf(NEWLINE, start);
          const lineEnd = nl < 0 || nl >= end ? end : nl + 1;
          this.#writeAll(bytes, start, lineEnd);
          start = lineEnd;
        }
      }
      this.counters.linesWritten += lines;
      if (this.#failing) this.#recovered();
    } catch (err) {
      // Whole lines before the failure are in the file; the cut one after them is removed.
      const written = this.#emitted;
      const lastNewline = written > 0 ? bytes.lastIndexOf(NEWLINE, written - 1) : -1;
      let whole = 0;
      for (let i = 0; i <= lastNewline; i++) if (bytes[i] === NEWLINE) whole++;
      this.#removeCutLine(written - (lastNewline + 1));
      this.counters.linesWritten += whole;
      this.#fail(err, lines - whole);
    }
  }

  /** Truncates the `partial` bytes of a cut line off the file's end; else starts a new line. */
  #removeCutLine(partial: number): void {
    if (partial <= 0) return;
    const sink = this.#sink;
    if (sink.truncateSync === undefined || sink.statSync === undefined) {
      this.#midLine = true;
      return;
    }
    try {
      // O_APPEND: the cut line is at the end of the file, whoever else wrote before it.
      const size = sink.statSync().size;
      sink.truncateSync(size - partial);
      this.#fileBytes = size - partial;
    } catch {
      this.#midLine = true; // a pipe or a device: the next write starts a new line at least
    }
  }

  /** One write loop over `bytes[start, end)`; continues after short writes. */
  #writeAll(bytes: Uint8Array, start: number, end: number): void {
    let zeroWrites = 0;
    while (start < end) {
      let n: number;
      try {
        n = this.#sink.writeSync(
          start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end),
        );
      } catch (err) {
        if (err instanceof Deno.errors.Interrupted) continue;
        throw err;
      }
      if (n <= 0) {
        if (++zeroWrites >= 3) throw new Error(`write to ${this.path} made no progress`);
        continue;
      }
      start += n;
      this.#fileBytes += n;
      this.counters.bytesWritten += n;
      this.#emitted = start;
    }
  }

  /**
   * Shifts the backups and reopens `path`. On failure the current file stays in use (the error is
   * counted) and the next attempt comes after another `maxBytes`.
   */
  #rotate(): void {
    try {
      rotateFiles(this.path, this.#maxBackups);
      const next = openForAppend(this.path);
      const info = next.statSync();
      const old = this.#sink;
      this.#sink = next;
      this.#dev = info.dev;
      this.#ino = info.ino ?? 0;
      try {
        old.close?.();
      } catch {
        // The data is already written; a failing close of the old file loses nothing.
      }
      this.counters.rotations++;
    } catch (err) {
      this.#fail(err, 0);
    }
    this.#fileBytes = 0;
  }

  #fail(err: unknown, lines: number): void {
    this.counters.errors++;
    this.counters.linesDropped += lines;
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.#onError !== undefined) {
      try {
        this.#onError(error);
      } catch {
        // A failing error reporter must not break the exporter.
      }
    }
    this.#failing = true;
    this.#unloggedLost += lines;
    this.#unloggedErrors++;
    const now = performance.now();
    if (this.#logger === undefined || now - this.#lastLossLog < this.#lossLogIntervalMs) return;
    this.#lastLossLog = now;
    this.#logger.error("export: write failed; events lost", {
      path: this.path,
      error: osReason(error),
      lost_events: this.#unloggedLost,
      failed_writes: this.#unloggedErrors,
      lost_events_total: this.counters.linesDropped,
    });
    this.#unloggedLost = 0;
    this.#unloggedErrors = 0;
  }

  /** The first whole write after failures: says what was lost since the last loss line. */
  #recovered(): void {
    this.#failing = false;
    this.#logger?.warn("export: writing again", {
      path: this.path,
      lost_events: this.#unloggedLost,
      failed_writes: this.#unloggedErrors,
      lost_events_total: this.counters.linesDropped,
    });
    this.#unloggedLost = 0;
    this.#unloggedErrors = 0;
  }
}

function openForAppend(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { write: true, append: true, create: true });
  } catch (err) {
    throw new ExportOpenError(path, err);
  }
}

/** The OS reason of a Deno error, without Deno's trailing `: open '<path>'`. */
function osReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/: [a-z]+ '.*'$/s, "");
}

function checkInt(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`JSON-lines exporter: ${name} must be an integer >= ${min}, got ${value}`);
  }
}
