/**
 * The few protobuf wire-format pieces the containerd and CRI clients need: a field reader and a
 * message writer (varint, length-delimited, fixed32/64; maps as repeated key=1/value=2 entries).
 * Unknown fields are skipped, so newer servers with more fields decode fine.
 *
 * @module
 */
import { rfc3339Seconds } from "../rfc3339.ts";

/** Wire types. */
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** One decoded field: a varint (as bigint) or the bytes of a length-delimited field. */
export interface ProtoField {
  no: number;
  wire: number;
  varint?: bigint;
  bytes?: Uint8Array;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Error for malformed input. */
export class ProtoError extends Error {
  constructor(msg: string) {
    super(`protobuf: ${msg}`);
    this.name = "ProtoError";
  }
}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtoError("truncated varint");
    const b = buf[pos++] as number;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
  throw new ProtoError("varint too long");
}

/** Decodes the top-level fields of a message, in wire order. */
export function decodeFields(buf: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) throw new ProtoError("field number 0");
    switch (wire) {
      case WIRE_VARINT: {
        const [v, p2] = readVarint(buf, pos);
        pos = p2;
        out.push({ no, wire, varint: v });
        break;
      }
      case WIRE_FIXED64:
        if (pos + 8 > buf.length) throw new ProtoError("truncated fixed64");
        out.push({ no, wire, bytes: buf.subarray(pos, pos + 8) });
        pos += 8;
        break;
      case WIRE_LEN: {
        const [len, p2] = readVarint(buf, pos);
        const end = p2 + Number(len);
        if (end > buf.length) throw new ProtoError(`truncated field ${no}`);
        out.push({ no, wire, bytes: buf.subarray(p2, end) });
        pos = end;
        break;
      }
      case WIRE_FIXED32:
        if (pos + 4 > buf.length) throw new ProtoError("truncated fixed32");
        out.push({ no, wire, bytes: buf.subarray(pos, pos + 4) });
        pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wire} (field ${no})`);
    }
  }
  return out;
}

/** A decoded message with typed accessors; the last occurrence of a singular field wins. */
export class ProtoMessage {
  readonly fields: readonly ProtoField[];

  constructor(buf: Uint8Array) {
    this.fields = decodeFields(buf);
  }

  #last(no: number): ProtoField | undefined {
    for (let i = this.fields.length - 1; i >= 0; i--) {
      const f = this.fields[i] as ProtoField;
      if (f.no === no) return f;
    }
    return undefined;
  }

  string(no: number): string {
    const f = this.#last(no);
    return f?.bytes !== undefined ? decoder.decode(f.bytes) : "";
  }

  bytes(no: number): Uint8Array | undefined {
    return this.#last(no)?.bytes;
  }

  /** A varint field as a number (int64 beyond 2^53 loses precision; fine for times/enums). */
  int(no: number): number {
    const v = this.#last(no)?.varint;
    return v === undefined ? 0 : Number(BigInt.asIntN(64, v));
  }

  bigint(no: number): bigint {
    return this.#last(no)?.varint ?? 0n;
  }

  bool(no: number): boolean {
    return (this.#last(no)?.varint ?? 0n) !== 0n;
  }

  message(no: number): ProtoMessage | undefined {
    const b = this.#last(no)?.bytes;
    return b === undefined ? undefined : new ProtoMessage(b);
  }

  repeatedMessages(no: number): ProtoMessage[] {
    const out: ProtoMessage[] = [];
    for (const f of this.fields) if (f.no === no && f.bytes) out.push(new ProtoMessage(f.bytes));
    return out;
  }

  repeatedStrings(no: number): string[] {
    const out: string[] = [];
    for (const f of this.fields) if (f.no === no && f.bytes) out.push(decoder.decode(f.bytes));
    return out;
  }

  /** A `map<string,string>` field. */
  stringMap(no: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const entry of this.repeatedMessages(no)) out[entry.string(1)] = entry.string(2);
    return out;
  }
}

/** `google.protobuf.Timestamp` → RFC 3339 with nanoseconds, or undefined when unset. */
export function timestampToRfc3339(ts: ProtoMessage | undefined): string | undefined {
  if (ts === undefined) return undefined;
  const seconds = ts.int(1);
  const nanos = ts.int(2);
  if (seconds === 0 && nanos === 0) return undefined;
  return rfc3339Nanos(seconds, nanos);
}

/** Unix nanoseconds (CRI `created_at`) → RFC 3339, or undefined when 0. */
export function unixNanosToRfc3339(ns: bigint): string | undefined {
  if (ns <= 0n) return undefined;
  return rfc3339Nanos(Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n));
}

function rfc3339Nanos(seconds: number, nanos: number): string {
  const base = rfc3339Seconds(seconds);
  return nanos === 0 ? `${base}Z` : `${base}.${String(nanos).padStart(9, "0")}Z`;
}

/** Builds a message. Fields are written in call order. */
export class ProtoWriter {
  readonly #chunks: number[] = [];

  #varint(v: bigint | number): void {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.#chunks.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.#chunks.push(Number(n));
  }

  #key(no: number, wire: number): void {
    this.#varint((BigInt(no) << 3n) | BigInt(wire));
  }

  varint(no: number, v: bigint | number | boolean): this {
    const n = typeof v === "boolean" ? (v ? 1 : 0) : v;
    if (n === 0 || n === 0n) return this;
    this.#key(no, WIRE_VARINT);
    this.#varint(n);
    return this;
  }

  bytes(no: number, b: Uint8Array): this {
    this.#key(no, WIRE_LEN);
    this.#varint(b.length);
    for (const x of b) this.#chunks.push(x);
    return this;
  }

  /** A string field; empty strings are omitted (proto3 default). */
  string(no: number, s: string | undefined): this {
    if (s === undefined || s === "") return this;
    return this.bytes(no, encoder.encode(s));
  }

  /** An embedded message (always written, even when empty). */
  message(no: number, m: ProtoWriter | Uint8Array): this {
    return this.bytes(no, m instanceof ProtoWriter ? m.finish() : m);
  }

  /** A `map<string,string>` field. */
  stringMap(no: number, map: Readonly<Record<string, string>> | undefined): this {
    for (const [k, v] of Object.entries(map ?? {})) {
      this.message(no, new ProtoWriter().string(1, k).string(2, v));
    }
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#chunks);
  }
}
