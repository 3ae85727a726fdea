/**
 * The libc functions vigil calls through FFI (glibc's libc.so.6 is on every host we support):
 * mmap of the ring buffer, epoll waits, errno, and vsnprintf for libbpf's printf-style log callback.
 *
 * @module
 */

const LIBC_SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  // Runs on a worker thread so a blocking wait never stalls the event loop.
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  vsnprintf: { parameters: ["buffer", "usize", "pointer", "pointer"], result: "i32" },
  getpagesize: { parameters: [], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "pointer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  // Gives the heap libbpf freed after a load (BTF parsing: tens of MiB) back to the kernel.
  malloc_trim: { parameters: ["usize"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened libc with vigil's symbol table. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** Owner of the libc handle. */
export interface LibcHandle {
  readonly symbols: Libc;
  close(): void;
}

/** Opens libc.so.6 with vigil's symbols. The caller owns the handle. */
export function openLibc(): LibcHandle {
  const lib = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  return { symbols: lib.symbols, close: () => lib.close() };
}

/** mmap protection and flag constants (Linux, all architectures we build for). */
export const PROT_READ = 1;
/** Writable mapping. */
export const PROT_WRITE = 2;
/** Shared mapping. */
export const MAP_SHARED = 1;
/** EPOLLIN event bit. */
export const EPOLLIN = 1;
/** epoll_ctl: add an fd. */
export const EPOLL_CTL_ADD = 1;
/** O_CLOEXEC for epoll_create1/eventfd. */
export const O_CLOEXEC = 0o2000000;

/** Reads the calling thread's errno; call it right after the failing FFI call. */
export function readErrno(libc: Libc): number {
  const p = libc.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

const ERRNO_NAMES = buildErrnoNames();

function buildErrnoNames(): Map<number, string> {
  const names = new Map<number, string>();
  // Linux errno numbers of the errors a BPF loader meets; names match errno(3).
  const table: [string, number][] = [
    ["EPERM", 1],
    ["ENOENT", 2],
    ["ESRCH", 3],
    ["EINTR", 4],
    ["EIO", 5],
    ["ENXIO", 6],
    ["E2BIG", 7],
    ["ENOEXEC", 8],
    ["EBADF", 9],
    ["EAGAIN", 11],
    ["ENOMEM", 12],
    ["EACCES", 13],
    ["EFAULT", 14],
    ["EBUSY", 16],
    ["EEXIST", 17],
    ["ENODEV", 19],
    ["ENOTDIR", 20],
    ["EISDIR", 21],
    ["EINVAL", 22],
    ["EMFILE", 24],
    ["ENOSPC", 28],
    ["ERANGE", 34],
    ["ENOSYS", 38],
    ["ELOOP", 40],
    ["ENODATA", 61],
    ["EPROTO", 71],
    ["EOVERFLOW", 75],
    ["EBADMSG", 74],
    ["EOPNOTSUPP", 95],
    ["ENOTSUPP", 524],
  ];
  for (const [name, num] of table) names.set(num, name);
  return names;
}

/** `EPERM (1)`-style name of an errno value (sign ignored). */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  return `${ERRNO_NAMES.get(n) ?? "errno"} (${n})`;
}
