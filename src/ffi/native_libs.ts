/**
 * Where libbpf comes from. By default vigil carries its own libbpf.so.1 together with what it
 * links against (libelf.so.1, libz.so.1), staged into `dist/native/` by
 * `scripts/stage_native_libs.sh` and imported as bytes, so `deno run` and the `deno compile`d
 * binary share this one code path and need no libbpf on the host. Each library is written to its
 * own sealed memfd and loaded from `/proc/self/fd/N`, dependencies first: the dynamic linker then
 * satisfies libbpf's `DT_NEEDED` entries with the already-loaded sonames instead of searching the
 * disk. Only glibc (>= `NATIVE_LIBS_MANIFEST.glibcFloor`) is taken from the host.
 *
 * @module
 */
import libzBytes from "../../dist/native/libz.so.1" with { type: "bytes" };
import libelfBytes from "../../dist/native/libelf.so.1" with { type: "bytes" };
import libbpfBytes from "../../dist/native/libbpf.so.1" with { type: "bytes" };
import manifestJson from "../../dist/native/manifest.json" with { type: "json" };
import {
  closeFd,
  createSealedMemfd,
  firstLine,
  glibcVersion,
  type Libc,
  openLibc,
} from "./_memfd.ts";

/** Where the libbpf in use came from. */
export type LibbpfSource = "embedded" | "host";

/** One embedded library, as recorded by `scripts/stage_native_libs.sh`. */
export interface NativeLibInfo {
  readonly soname: string;
  /** Debian package it was taken from, and that package's version on the build host. */
  readonly package: string;
  readonly packageVersion: string;
  /** The real file it was copied from on the build host. */
  readonly source: string;
  readonly sha256: string;
  readonly size: number;
  /** Highest `GLIBC_x.y` symbol version it requires, e.g. "2.33". */
  readonly glibc: string;
}

/** Build information about the embedded libraries, for `vigil version` and `vigil status`. */
export interface NativeLibsManifest {
  readonly arch: string;
  /** The oldest glibc the embedded libraries work with: the maximum over {@link NativeLibInfo.glibc}. */
  readonly glibcFloor: string;
  /** In load order: dependencies first, libbpf last. */
  readonly libs: readonly NativeLibInfo[];
}

/**
 * What was embedded at build time.
 *
 * @example
 * ```ts
 * const libbpf = NATIVE_LIBS_MANIFEST.libs.find((l) => l.soname === "libbpf.so.1");
 * ```
 */
export const NATIVE_LIBS_MANIFEST: NativeLibsManifest = deepFreeze(manifestJson);

/** A libbpf ready to be `Deno.dlopen`ed; owns whatever backs it until {@link NativeLibs.close}. */
export interface NativeLibs extends Disposable {
  /** Path to pass to `Deno.dlopen(path, symbols)`. */
  readonly libbpfPath: string;
  readonly source: LibbpfSource;
  /** Releases the memfds and loader handles; call after the caller's libbpf handle is closed. */
  close(): void;
}

/** Options for {@link loadNativeLibs}. */
export interface LoadNativeLibsOptions {
  /** Use the host's `libbpf.so.1` (found by the dynamic linker) instead of the embedded copy. */
  readonly useHost: boolean;
}

/**
 * Prepares libbpf: the embedded copy (default) or the host's. In embedded mode libz and libelf
 * are loaded here and stay loaded, and libbpf waits in a memfd for the caller's `Deno.dlopen`.
 * Throws one-line errors (too old a glibc, memfd or loader failures) and leaks nothing on failure.
 *
 * @example
 * ```ts
 * using libs = loadNativeLibs({ useHost: false });
 * const lib = Deno.dlopen(libs.libbpfPath, {
 *   libbpf_major_version: { parameters: [], result: "u32" },
 * });
 * lib.symbols.libbpf_major_version(); // 1
 * lib.close();
 * ```
 */
export function loadNativeLibs(options: LoadNativeLibsOptions): NativeLibs {
  return options.useHost ? new HostLibs() : EmbeddedLibs.load();
}

/**
 * Turns a failed `Deno.dlopen(libs.libbpfPath, ...)` into one line saying what is missing and
 * what to do about it.
 *
 * @example
 * ```ts
 * try {
 *   Deno.dlopen("libbpf.so.1", {});
 * } catch (err) {
 *   describeLibbpfLoadError(err, "host");
 *   // "libbpf.so.1 not found on this host; install the libbpf1 package, or drop
 *   //  --host-libbpf (and VIGIL_LIBBPF=host) to use the embedded copy"
 * }
 * ```
 */
export function describeLibbpfLoadError(err: unknown, source: LibbpfSource): string {
  // The loader names memfds by path; "/proc/self/fd/12" tells a user nothing.
  const reason = firstLine(err).replace(/\/proc\/self\/fd\/\d+/g, "the embedded copy");
  const glibc = /`GLIBC_([\d.]+)' not found/.exec(reason);
  if (source === "host") {
    const fix = "install the libbpf1 package, or drop --host-libbpf (and VIGIL_LIBBPF=host) " +
      "to use the embedded copy";
    if (/cannot open shared object file|No such file/.test(reason)) {
      return `libbpf.so.1 not found on this host; ${fix}`;
    }
    return `the host's libbpf.so.1 cannot be loaded (${reason}); ${fix}`;
  }
  if (glibc) {
    return `the embedded libbpf needs glibc >= ${glibc[1]}, newer than this host's; ` +
      `install the libbpf1 package and run with --host-libbpf`;
  }
  return `the embedded libbpf cannot be loaded (${reason}); rebuild with 'deno task build' ` +
    `or run with --host-libbpf to use the host's libbpf1`;
}

/** The host's libbpf: nothing to hold, the dynamic linker finds it by soname. */
class HostLibs implements NativeLibs {
  readonly libbpfPath = "libbpf.so.1";
  readonly source = "host";
  close(): void {}
  [Symbol.dispose](): void {}
}

/** The embedded libraries: one owner for the memfds and the dependency handles. */
class EmbeddedLibs implements NativeLibs {
  readonly source = "embedded";
  readonly libbpfPath: string;
  #libc: Libc | null;
  readonly #fds: number[];
  readonly #deps: Deno.DynamicLibrary<Record<string, never>>[];

  private constructor(
    libc: Libc,
    fds: number[],
    deps: Deno.DynamicLibrary<Record<string, never>>[],
  ) {
    this.#libc = libc;
    this.#fds = fds;
    this.#deps = deps;
    this.libbpfPath = `/proc/self/fd/${fds[fds.length - 1]}`;
  }

  static load(): EmbeddedLibs {
    const libc = openLibc();
    const fds: number[] = [];
    const deps: Deno.DynamicLibrary<Record<string, never>>[] = [];
    try {
      checkGlibc(glibcVersion(libc));
      // Dependencies first: once libz.so.1 and libelf.so.1 are loaded under their sonames, the
      // dynamic linker resolves libbpf's DT_NEEDED entries to them and never searches the disk.
      for (const [soname, bytes] of EMBEDDED) {
        fds.push(createSealedMemfd(libc, soname, bytes));
      }
      for (const [i, [soname]] of EMBEDDED.slice(0, -1).entries()) {
        try {
          deps.push(Deno.dlopen(`/proc/self/fd/${fds[i]}`, {}));
        } catch (err) {
          const reason = firstLine(err).replace(/\/proc\/self\/fd\/\d+/g, soname);
          throw new Error(`load embedded ${soname}: ${reason}`, { cause: err });
        }
      }
      return new EmbeddedLibs(libc, fds, deps);
    } catch (err) {
      release(libc, fds, deps);
      throw err;
    }
  }

  close(): void {
    if (this.#libc === null) return;
    release(this.#libc, this.#fds, this.#deps);
    this.#libc = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** In load order; libbpf last (the caller loads it). */
const EMBEDDED: readonly (readonly [string, Uint8Array])[] = [
  ["libz.so.1", libzBytes],
  ["libelf.so.1", libelfBytes],
  ["libbpf.so.1", libbpfBytes],
];

function release(libc: Libc, fds: number[], deps: Deno.DynamicLibrary<Record<string, never>>[]) {
  // Reverse order: libelf before libz. dlclose only drops references; code stays mapped while
  // anything (the caller's libbpf) still needs it.
  for (const dep of deps.splice(0).reverse()) dep.close();
  for (const fd of fds.splice(0).reverse()) closeFd(libc, fd);
  libc.close();
}

/** Refuses early, with the fix, where the loader would fail with a cryptic version error. */
function checkGlibc(running: string): void {
  const floor = NATIVE_LIBS_MANIFEST.glibcFloor;
  if (compareVersions(running, floor) < 0) {
    throw new Error(
      `the embedded libbpf needs glibc >= ${floor}, this host has ${running}; ` +
        `install the libbpf1 package and run with --host-libbpf`,
    );
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (Number.isNaN(d)) return 0; // an unparsable version: let the loader decide
    if (d !== 0) return d;
  }
  return 0;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
