/**
 * The one fact needed to walk raw BTF type records without libbpf: how many bytes follow each
 * record's 12-byte common header, by kind (the kernel's Documentation/bpf/btf.rst, section 2.2).
 * Shared by the readers that scan `/sys/kernel/btf/vmlinux` directly (cgroup subsystem ids,
 * kernel function names).
 *
 * @module
 */

/** Magic number at the start of a BTF blob (read little-endian on x86). */
export const BTF_MAGIC = 0xeb9f;

/** Bytes after the 12-byte type header for `kind` with `vlen` members; undefined: unknown kind. */
export function btfTrailingBytes(kind: number, vlen: number): number | undefined {
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
      return undefined;
  }
}
