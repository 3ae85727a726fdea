/**
 * The BPF runtime: the loaded libbpf (embedded copy or the host's), libc, and libbpf's log
 * messages routed into vigil's logger (and kept, so load errors can quote them).
 *
 * @module
 */
import { describeLibbpfLoadError, loadNativeLibs, type NativeLibs } from "../ffi/native_libs.ts";
import { type LibbpfHandle, openLibbpf } from "../ffi/libbpf.ts";
import { type LibcHandle, openLibc } from "../ffi/libc.ts";
import type { Libbpf } from "../ffi/libbpf.ts";
import type { Libc } from "../ffi/libc.ts";
import type { Logger } from "../log/logger.ts";

/** What every BPF object needs: the two native libraries and libbpf's recent messages. */
export interface BpfRuntime extends Disposable {
  readonly libbpf: Libbpf;
  readonly libc: Libc;
  /** libbpf version, e.g. "1.1". */
  readonly libbpfVersion: string;
  readonly libbpfSource: "embedded" | "host";
  /** libbpf's messages since the last {@link BpfRuntime.takeMessages} call. */
  takeMessages(): string[];
  /**
   * Turns libbpf's messages off until the returned function is called (for loads on another
   * thread, see {@link BpfObject.loadInBackground}); calling it twice is harmless.
   */
  quiet(): () => void;
  close(): void;
}

/** Options for {@link openBpfRuntime}. */
export interface BpfRuntimeOptions {
  readonly useHostLibbpf: boolean;
  readonly logger: Logger;
}

const MAX_KEPT_MESSAGES = 200;
// libbpf log levels: LIBBPF_WARN = 0, LIBBPF_INFO = 1, LIBBPF_DEBUG = 2.
const LIBBPF_DEBUG = 2;

/** Opens libbpf and libc; throws one clear error when libbpf cannot be loaded. */
export function openBpfRuntime(options: BpfRuntimeOptions): BpfRuntime {
  const native: NativeLibs = loadNativeLibs({ useHost: options.useHostLibbpf });
  let libbpf: LibbpfHandle;
  try {
    libbpf = openLibbpf(native.libbpfPath);
  } catch (err) {
    native.close();
    throw new Error(describeLibbpfLoadError(err, native.source), { cause: err });
  }
  const libc: LibcHandle = openLibc();
  const messages: string[] = [];
  const formatBuffer = new Uint8Array(4096);
  // Synchronous callback: libbpf calls it on this thread, only while loading or attaching.
  const print = new Deno.UnsafeCallback(
    { parameters: ["i32", "pointer", "pointer"], result: "i32" } as const,
    (level, format, args) => {
      if (format === null) return 0;
      const n = libc.symbols.vsnprintf(formatBuffer, BigInt(formatBuffer.length), format, args);
      const text = new TextDecoder().decode(
        formatBuffer.subarray(0, Math.min(Math.max(n, 0), formatBuffer.length - 1)),
      )
        .trimEnd();
      if (level < LIBBPF_DEBUG) {
        messages.push(text);
        if (messages.length > MAX_KEPT_MESSAGES) messages.shift();
      }
      options.logger.debug("libbpf", { level, text });
      return 0;
    },
  );
  libbpf.symbols.libbpf_set_print(print.pointer);
  let closed = false;
  function close(): void {
    if (closed) return;
    closed = true;
    libbpf.symbols.libbpf_set_print(null);
    print.close();
    libbpf.close();
    libc.close();
    native.close();
  }
  return {
    libbpf: libbpf.symbols,
    libc: libc.symbols,
    libbpfVersion: libbpf.version,
    libbpfSource: native.source,
    takeMessages: () => messages.splice(0, messages.length),
    quiet: () => {
      libbpf.symbols.libbpf_set_print(null);
      let done = false;
      return () => {
        if (done || closed) return;
        done = true;
        libbpf.symbols.libbpf_set_print(print.pointer);
      };
    },
    close,
    [Symbol.dispose]: close,
  };
}
