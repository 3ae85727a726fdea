/**
 * The API's address syntax, shared by the server (`--listen`) and the CLI client (`--api`):
 * `HOST:PORT` (IPv6 as `[::1]:PORT`) or `unix:PATH`.
 *
 * @module
 */

/** Where the API listens. */
export type ApiAddress =
  | { readonly kind: "tcp"; readonly hostname: string; readonly port: number }
  | { readonly kind: "unix"; readonly path: string };

/** The default: loopback only. */
export const DEFAULT_API_ADDRESS = "127.0.0.1:9560";

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` or `unix:PATH`; throws a one-line error naming the input.
 *
 * @example
 * ```ts
 * parseApiAddress("127.0.0.1:9560"); // { kind: "tcp", hostname: "127.0.0.1", port: 9560 }
 * parseApiAddress("unix:/run/vigil/api.sock"); // { kind: "unix", path: "/run/vigil/api.sock" }
 * ```
 */
export function parseApiAddress(text: string): ApiAddress {
  if (text.startsWith("unix:")) {
    const path = text.slice("unix:".length);
    if (path === "") throw new Error(`API address '${text}': unix: needs a socket path`);
    return { kind: "unix", path };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) {
    throw new Error(`API address '${text}': expected HOST:PORT, [IPv6]:PORT or unix:PATH`);
  }
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`API address '${text}': port ${port} is out of range`);
  return { kind: "tcp", hostname: m[1] ?? m[2]!, port };
}

/** The address in the syntax {@link parseApiAddress} reads. */
export function formatApiAddress(address: ApiAddress): string {
  if (address.kind === "unix") return `unix:${address.path}`;
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/** Whether a TCP address only accepts connections from this host. */
export function isLoopback(address: ApiAddress): boolean {
  if (address.kind === "unix") return true;
  const h = address.hostname;
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
