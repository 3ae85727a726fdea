/**
 * Sending one datagram to a unix socket through libc (`socket`, `sendto`, `close`), for systemd's
 * `NOTIFY_SOCKET`: Deno's own unix datagram sockets need `--unstable-net`. Paths starting with `@`
 * are abstract names (a leading NUL byte, no terminator), as sd_notify(3) specifies.
 *
 * @module
 */
import { errnoName } from "./libc.ts";

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sun_path) in struct sockaddr_un on Linux. */
const SUN_PATH_MAX = 108;

/**
 * Encodes `struct sockaddr_un` for `path` (`@name` = abstract) and returns it with the address
 * length to pass to the kernel.
 */
export function encodeSockaddrUn(path: string): { addr: Uint8Array<ArrayBuffer>; length: number } {
  const abstract = path.startsWith("@");
  const name = new TextEncoder().encode(abstract ? path.slice(1) : path);
  // Abstract: NUL + name (no terminator). Filesystem: name + NUL terminator.
  const used = name.length + 1;
  if (used > SUN_PATH_MAX) {
    throw new Error(`unix socket path is too long (${name.length} bytes, max ${SUN_PATH_MAX - 1})`);
  }
  const addr = new Uint8Array(2 + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return { addr, length: 2 + used };
}

/**
 * Sends `data` as one datagram to the unix socket at `path` without blocking. Throws a one-line
 * error with the errno name (e.g. `ENOENT (2)`, `EAGAIN (11)`).
 *
 * @example
 * ```ts
 * sendUnixDatagram("/run/systemd/notify", new TextEncoder().encode("READY=1"));
 * ```
 */
export function sendUnixDatagram(path: string, data: Uint8Array<ArrayBuffer>): void {
  const { addr, length } = encodeSockaddrUn(path);
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  const errno = () => {
    const p = lib.symbols.__errno_location();
    return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
  };
  try {
    const fd = lib.symbols.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM): ${errnoName(errno())}`);
    try {
      const sent = lib.symbols.sendto(
        fd,
        data,
        BigInt(data.length),
        MSG_DONTWAIT | MSG_NOSIGNAL,
        addr,
        length,
      );
      if (sent < 0) throw new Error(`sendto ${path}: ${errnoName(errno())}`);
      if (Number(sent) !== data.length) {
        throw new Error(`sendto ${path}: sent ${sent} of ${data.length} bytes`);
      }
    } finally {
      lib.symbols.close(fd);
    }
  } finally {
    lib.close();
  }
}
