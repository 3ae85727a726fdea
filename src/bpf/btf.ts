/**
 * Facts from the running kernel's BTF (`/sys/kernel/btf/vmlinux`, parsed by libbpf): how many
 * arguments a kernel function takes, which is where an fexit program finds its return value.
 *
 * @module
 */

import { cString } from "../ffi/libbpf.ts";
import type { BpfRuntime } from "./runtime.ts";

const BTF_KIND_FUNC = 12;
const BTF_KIND_FUNC_PROTO = 13;
// struct btf_type { __u32 name_off; __u32 info; __u32 size_or_type; }: info at 4, type at 8.

/** The kernel's BTF, loaded once; close it when done. */
export class KernelBtf implements Disposable {
  readonly #rt: BpfRuntime;
  #btf: Deno.PointerValue;

  constructor(rt: BpfRuntime) {
    this.#rt = rt;
    this.#btf = rt.libbpf.btf__load_vmlinux_btf();
    if (this.#btf === null) {
      throw new Error("cannot load the kernel's BTF (/sys/kernel/btf/vmlinux)");
    }
  }

  #type(id: number): { kind: number; vlen: number; type: number } {
    const p = this.#rt.libbpf.btf__type_by_id(this.#btf, id);
    if (p === null) throw new Error(`BTF type ${id} not found`);
    const view = new Deno.UnsafePointerView(p);
    const info = view.getUint32(4);
    return { kind: (info >>> 24) & 0x1f, vlen: info & 0xffff, type: view.getUint32(8) };
  }

  /** The number of arguments of kernel function `name`, or undefined when BTF has no such function. */
  functionArgCount(name: string): number | undefined {
    if (this.#btf === null) throw new Error("the kernel's BTF is closed");
    const id = this.#rt.libbpf.btf__find_by_name_kind(this.#btf, cString(name), BTF_KIND_FUNC);
    if (id < 0) return undefined;
    const proto = this.#type(this.#type(id).type);
    if (proto.kind !== BTF_KIND_FUNC_PROTO) return undefined;
    return proto.vlen;
  }

  close(): void {
    if (this.#btf !== null) this.#rt.libbpf.btf__free(this.#btf);
    this.#btf = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
