/**
 * Unary gRPC calls over a unix socket, for containerd's API and the CRI runtime service.
 *
 * Transport is `@grpc/grpc-js` (pure JavaScript; it runs under Deno's node:http2); messages are
 * encoded by hand with {@link ProtoWriter}/{@link ProtoMessage}, so no `.proto` files are loaded.
 * The channel is created lazily and thrown away after a transport failure (UNAVAILABLE or a
 * deadline), so the caller's own backoff, not grpc-js's reconnect timer, decides when to retry,
 * and a restarted daemon is reached at the next attempt.
 *
 * @module
 */
import type * as grpc from "npm:@grpc/grpc-js@^1.14.7";

// Loaded on the first call: grpc-js and node:http2 cost ~14 MiB of RSS, paid only on hosts where
// containerd or a CRI runtime answers.
let grpcModule: Promise<typeof grpc> | undefined;
const loadGrpc = () => grpcModule ??= import("npm:@grpc/grpc-js@^1.14.7");

/** gRPC status codes used by callers. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** A failed call, with its gRPC status code. */
export class GrpcError extends Error {
  readonly code: number;

  constructor(method: string, code: number, details: string) {
    super(`${method}: ${details || `gRPC status ${code}`} (code ${code})`);
    this.name = "GrpcError";
    this.code = code;
  }
}

/** Options of {@link GrpcUnixClient}. */
export interface GrpcUnixClientOptions {
  /** Largest response accepted, in bytes; default 64 MiB (container lists carry OCI specs). */
  maxReceiveBytes?: number;
}

/** Options of one call. */
export interface CallOptions {
  /** Deadline in ms; default 5000. */
  timeoutMs?: number;
  /** Request metadata (e.g. `containerd-namespace`). */
  metadata?: Readonly<Record<string, string>>;
}

const identity = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const toBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** A gRPC client on one unix socket. */
export class GrpcUnixClient {
  readonly socketPath: string;
  readonly #maxReceiveBytes: number;
  #client: grpc.Client | undefined;
  #closed = false;

  constructor(socketPath: string, options: GrpcUnixClientOptions = {}) {
    this.socketPath = socketPath;
    this.#maxReceiveBytes = options.maxReceiveBytes ?? 64 * 1024 * 1024;
  }

  #channel(lib: typeof grpc): grpc.Client {
    if (this.#client === undefined) {
      this.#client = new lib.Client(
        `unix://${this.socketPath}`,
        lib.credentials.createInsecure(),
        {
          "grpc.max_receive_message_length": this.#maxReceiveBytes,
          "grpc.initial_reconnect_backoff_ms": 200,
          "grpc.max_reconnect_backoff_ms": 2000,
          "grpc.enable_retries": 0,
        },
      );
    }
    return this.#client;
  }

  /** Drops the channel; the next call opens a new one. */
  reset(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  /** Calls `method` (`/package.Service/Method`) with an encoded request; resolves to the response bytes. */
  async unary(method: string, request: Uint8Array, options: CallOptions = {}): Promise<Uint8Array> {
    if (this.#closed) throw new GrpcError(method, GrpcStatus.CANCELLED, "closed");
    const lib = await loadGrpc();
    if (this.#closed) throw new GrpcError(method, GrpcStatus.CANCELLED, "closed");
    const metadata = new lib.Metadata();
    for (const [k, v] of Object.entries(options.metadata ?? {})) metadata.set(k, v);
    const client = this.#channel(lib);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest<Uint8Array, Uint8Array>(
        method,
        identity,
        toBytes,
        request,
        metadata,
        { deadline: Date.now() + (options.timeoutMs ?? 5000) },
        (err, response) => {
          if (err) {
            const code = typeof err.code === "number" ? err.code : GrpcStatus.UNKNOWN;
            if (code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED) {
              if (this.#client === client) this.reset();
            }
            reject(new GrpcError(method, code, err.details ?? err.message));
          } else {
            resolve(response ?? new Uint8Array(0));
          }
        },
      );
    });
  }

  close(): void {
    this.#closed = true;
    this.reset();
  }
}
