/**
 * Reads the kernel's `enum cgroup_subsys_id` from BTF (`/sys/kernel/btf/vmlinux`): the
 * authoritative controller → subsystem index map BPF indexes `css_set->subsys[]` with.
 * `/proc/cgroups` line positions agree with it unless the kernel hides lines (Linux ≥ 6.11 leaves
 * out controllers not available on v1), so the hierarchy decision cross-checks the two.
 *
 * Only the type section is walked; the layout is the kernel's documented BTF format
 * (Documentation/bpf/btf.rst).
 *
 * @module
 */

const BTF_MAGIC = 0xeb9f;
const KIND_ENUM = 6;

/** Bytes that follow the 12-byte common type header, by kind (btf.rst §2.2). */
function trailingBytes(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // INT
    case 14: // VAR
    case 17: // DECL_TAG
      return 4;
    case 3: // ARRAY
      return 12;
    case 4: // STRUCT
    case 5: // UNION
    case 15: // DATASEC
    case 19: // ENUM64
      return 12 * vlen;
    case 6: // ENUM
    case 13: // FUNC_PROTO
      return 8 * vlen;
    case 2: // PTR
    case 7: // FWD
    case 8: // TYPEDEF
    case 9: // VOLATILE
    case 10: // CONST
    case 11: // RESTRICT
    case 12: // FUNC
    case 16: // FLOAT
    case 18: // TYPE_TAG
      return 0;
    default:
      throw new Error(`BTF: unknown type kind ${kind}`);
  }
}

/**
 * Finds `enum cgroup_subsys_id` in raw BTF and returns controller name (without `_cgrp_id`, so
 * `io` rather than v1's `blkio`) → value. Throws when the data is not BTF or the enum is absent.
 *
 * @example
 * ```ts
 * const ids = cgroupSubsysIdsFromBtf(Deno.readFileSync("/sys/kernel/btf/vmlinux"));
 * ids.get("memory"); // 4 on a typical x86-64 kernel
 * ```
 */
export function cgroupSubsysIdsFromBtf(data: Uint8Array): Map<string, number> {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const little = view.getUint16(0, true) === BTF_MAGIC;
  if (!little && view.getUint16(0, false) !== BTF_MAGIC) throw new Error("BTF: bad magic");
  const hdrLen = view.getUint32(4, little);
  const typeStart = hdrLen + view.getUint32(8, little);
  const typeEnd = typeStart + view.getUint32(12, little);
  const strStart = hdrLen + view.getUint32(16, little);
  const strEnd = strStart + view.getUint32(20, little);
  const decoder = new TextDecoder();
  const name = (offset: number): string => {
    const begin = strStart + offset;
    let end = begin;
    while (end < strEnd && data[end] !== 0) end++;
    return decoder.decode(data.subarray(begin, end));
  };

  for (let at = typeStart; at < typeEnd;) {
    const info = view.getUint32(at + 4, little);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (kind === KIND_ENUM && name(view.getUint32(at, little)) === "cgroup_subsys_id") {
      const ids = new Map<string, number>();
      for (let i = 0; i < vlen; i++) {
        const member = at + 12 + 8 * i;
        const label = name(view.getUint32(member, little));
        if (label.endsWith("_cgrp_id")) {
          ids.set(label.slice(0, -"_cgrp_id".length), view.getInt32(member + 4, little));
        }
      }
      return ids;
    }
    at += 12 + trailingBytes(kind, vlen);
  }
  throw new Error("BTF: enum cgroup_subsys_id not found");
}
