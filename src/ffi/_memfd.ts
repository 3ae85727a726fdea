/**
 * Private to `native_libs.ts`: the few libc calls that turn bytes into a sealed, anonymous,
 * loadable file (a memfd). Not a general libc binding.
 *
 * @module
 */

// <linux/memfd.h> and <linux/fcntl.h>; Debian 12's headers predate MFD_NOEXEC_SEAL.
const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
const MFD_NOEXEC_SEAL = 0x8;
const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 0x1;
const F_SEAL_SHRINK = 0x2;
const F_SEAL_GROW = 0x4;
const F_SEAL_WRITE = 0x8;
const EINVAL = 22;
const EINTR = 4;

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  12: "ENOMEM",
  13: "EACCES",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  28: "ENOSPC",
  38: "ENOSYS",
};

const LIBC_SYMBOLS = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // Variadic in C; with integer arguments only, the fixed three-int call is ABI-compatible.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  ["__errno_location"]: { parameters: [], result: "pointer" },
  ["gnu_get_libc_version"]: { parameters: [], result: "pointer" },
} as const;

/** The libc handle the memfd helpers use; owned (and closed) by the caller. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

/** Opens the host's libc with the symbols below (memfd_create needs glibc 2.27+). */
export function openLibc(): Libc {
  try {
    return Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  } catch (err) {
    throw new Error(`open libc.so.6: ${firstLine(err)} (memfd_create needs glibc >= 2.27)`, {
      cause: err,
    });
  }
}

/** The running glibc's version, e.g. "2.36". */
export function glibcVersion(libc: Libc): string {
  const ptr = libc.symbols.gnu_get_libc_version();
  return ptr === null ? "unknown" : Deno.UnsafePointerView.getCString(ptr);
}

/**
 * Creates a close-on-exec memfd named `name` holding `bytes`, sealed against any further change
 * (so nothing can alter library code after it is mapped). Returns the fd; the caller closes it.
 */
export function createSealedMemfd(libc: Libc, name: string, bytes: Uint8Array): number {
  const cName = new TextEncoder().encode(name + "\0");
  const base = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  // The loader only mmaps the file, which the no-exec seal allows; the seal forbids execve() of it
  // and works under every vm.memfd_noexec setting. Kernels before 6.3 reject it with EINVAL.
  let fd = libc.symbols.memfd_create(cName, base | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno(libc) === EINVAL) fd = libc.symbols.memfd_create(cName, base);
  if (fd < 0) throw new Error(`memfd_create ${name}: ${errnoText(libc)}`);
  try {
    writeAll(libc, fd, bytes, name);
    const seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    if (libc.symbols.fcntl(fd, F_ADD_SEALS, seals) < 0) {
      throw new Error(`seal memfd ${name}: ${errnoText(libc)}`);
    }
    return fd;
  } catch (err) {
    libc.symbols.close(fd);
    throw err;
  }
}

/** Closes a file descriptor, ignoring errors (used on release paths only). */
export function closeFd(libc: Libc, fd: number): void {
  libc.symbols.close(fd);
}

function writeAll(libc: Libc, fd: number, bytes: Uint8Array, name: string): void {
  let done = 0;
  while (done < bytes.length) {
    const n = Number(libc.symbols.write(fd, bytes.subarray(done), BigInt(bytes.length - done)));
    if (n < 0) {
      if (errno(libc) === EINTR) continue;
      throw new Error(`write memfd ${name}: ${errnoText(libc)}`);
    }
    done += n;
  }
}

function errno(libc: Libc): number {
  const ptr = libc.symbols.__errno_location();
  return ptr === null ? 0 : new Deno.UnsafePointerView(ptr).getInt32();
}

function errnoText(libc: Libc): string {
  const code = errno(libc);
  return `errno ${code}${ERRNO_NAMES[code] ? ` (${ERRNO_NAMES[code]})` : ""}`;
}

/** First line of an error's message, for one-line diagnostics. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] ?? text;
}
