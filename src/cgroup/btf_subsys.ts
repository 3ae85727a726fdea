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

import { BTF_MAGIC, btfTrailingBytes } from "../kernel/btf_kinds.ts";

const KIND_ENUM = 6;

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
    const trailing = btfTrailingBytes(kind, vlen);
    if (trailing === undefined) throw new Error(`BTF: unknown type kind ${kind}`);
    at += 12 + trailing;
  }
  throw new Error("BTF: enum cgroup_subsys_id not found");
}
