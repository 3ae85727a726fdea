/**
 * A handle on a map owned by a {@link BpfObject}: valid until the object closes. Keys and values
 * are raw bytes laid out as the generated ABI module describes.
 *
 * @module
 */
import { readErrno } from "../ffi/libc.ts";
import { BpfError } from "./errors.ts";
import type { BpfRuntime } from "./runtime.ts";

/** Static facts of a map. */
export interface MapInfo {
  readonly name: string;
  readonly fd: number;
  readonly maxEntries: number;
  readonly valueSize: number;
}

const ENOENT = 2;

/** Lookups and updates on one map by fd. */
export class MapHandle {
  readonly name: string;
  readonly fd: number;
  readonly maxEntries: number;
  readonly valueSize: number;
  readonly #rt: BpfRuntime;

  /** Internal: created by {@link BpfObject.map}. */
  constructor(rt: BpfRuntime, info: MapInfo) {
    this.#rt = rt;
    this.name = info.name;
    this.fd = info.fd;
    this.maxEntries = info.maxEntries;
    this.valueSize = info.valueSize;
  }

  /** Reads the value of `key` into `value`; false when absent. */
  lookup(key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>): boolean {
    const rc = this.#rt.libbpf.bpf_map_lookup_elem(this.fd, key, value);
    if (rc === 0) return true;
    const errno = -rc || readErrno(this.#rt.libc);
    if (errno === ENOENT) return false;
    throw new BpfError({ op: "lookup in map", object: this.name, errno });
  }

  /** Writes `value` at `key` (flags: 0 any, 1 no-exist, 2 exist). */
  update(key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>, flags = 0n): void {
    const rc = this.#rt.libbpf.bpf_map_update_elem(this.fd, key, value, flags);
    if (rc !== 0) {
      throw new BpfError({
        op: "update map",
        object: this.name,
        errno: -rc || readErrno(this.#rt.libc),
      });
    }
  }

  /** Deletes `key`; false when it was absent. */
  delete(key: Uint8Array<ArrayBuffer>): boolean {
    const rc = this.#rt.libbpf.bpf_map_delete_elem(this.fd, key);
    if (rc === 0) return true;
    const errno = -rc || readErrno(this.#rt.libc);
    if (errno === ENOENT) return false;
    throw new BpfError({ op: "delete from map", object: this.name, errno });
  }

  /**
   * Sums a per-CPU array of u64 counters: returns one bigint per index.
   * Per-CPU values come back as one 8-byte slot per possible CPU.
   */
  sumPerCpuCounters(): bigint[] {
    const cpus = this.#rt.libbpf.libbpf_num_possible_cpus();
    const key = new Uint32Array(1);
    const values = new BigUint64Array(Math.max(cpus, 1));
    const sums: bigint[] = [];
    for (let i = 0; i < this.maxEntries; i++) {
      key[0] = i;
      this.lookup(new Uint8Array(key.buffer), new Uint8Array(values.buffer));
      sums.push(values.reduce((a, b) => a + b, 0n));
    }
    return sums;
  }
}
