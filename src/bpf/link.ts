/**
 * An attached program. Links are not pinned, so when the agent dies (even by SIGKILL) the kernel
 * drops them with the process's fds: nothing stays attached.
 *
 * @module
 */
import { concatBytes } from "../bytes.ts";
import { readErrno } from "../ffi/libc.ts";
import { BpfError } from "./errors.ts";
import type { BpfRuntime } from "./runtime.ts";

/** Owner of one bpf_link. */
export class BpfLink implements Disposable {
  readonly program: string;
  readonly #rt: BpfRuntime;
  #link: Deno.PointerObject | null;
  readonly #onClose: () => void;

  /** Internal: created by {@link BpfObject.attach}. */
  constructor(rt: BpfRuntime, link: Deno.PointerObject, program: string, onClose: () => void) {
    this.#rt = rt;
    this.#link = link;
    this.program = program;
    this.#onClose = onClose;
  }

  /** The link's fd (for iterators and link info). */
  get fd(): number {
    if (this.#link === null) throw new Error(`link of ${this.program} is closed`);
    return this.#rt.libbpf.bpf_link__fd(this.#link);
  }

  /** Runs an iterator link once and returns everything it wrote. */
  readIterator(): Uint8Array {
    const { libbpf, libc } = this.#rt;
    const fd = libbpf.bpf_iter_create(this.fd);
    if (fd < 0) throw new BpfError({ op: "create iterator", object: this.program, errno: -fd });
    const chunks: Uint8Array[] = [];
    try {
      const buffer = new Uint8Array(64 * 1024);
      for (;;) {
        const n = Number(libc.read(fd, buffer, BigInt(buffer.length)));
        if (n < 0) {
          throw new BpfError({ op: "read iterator", object: this.program, errno: readErrno(libc) });
        }
        if (n === 0) break;
        chunks.push(buffer.slice(0, n));
      }
    } finally {
      libc.close(fd);
    }
    return concatBytes(chunks);
  }

  /** Detaches. Idempotent. */
  close(): void {
    if (this.#link === null) return;
    this.#rt.libbpf.bpf_link__destroy(this.#link);
    this.#link = null;
    this.#onClose();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
