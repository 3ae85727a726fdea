/**
 * Maps vigil creates itself, from an opened object's definitions, so that two objects can share
 * them before either has loaded (and both can then load at once, see `src/agent/early_engine.ts`).
 * The objects keep their own duplicates of the fds; these are closed once both have taken them.
 *
 * @module
 */
import { cString } from "../ffi/libbpf.ts";
import { BpfError } from "./errors.ts";
import type { MapSpec } from "./object.ts";
import type { BpfRuntime } from "./runtime.ts";

/** struct bpf_map_create_opts of libbpf 1.1: 48 bytes, map_flags at offset 28. */
const CREATE_OPTS_BYTES = 48;
const MAP_FLAGS_OFFSET = 28;

/** Maps created from specs, by name; {@link OwnedMaps.close} closes vigil's fds. */
export interface OwnedMaps<N extends string> {
  readonly fds: Readonly<Record<N, number>>;
  close(): void;
}

/** Creates one map per spec (no BTF: plain keys and values); on failure closes what it made. */
export function createMaps<N extends string>(
  rt: BpfRuntime,
  object: string,
  specs: readonly (MapSpec & { readonly name: N })[],
): OwnedMaps<N> {
  const fds = {} as Record<N, number>;
  const close = () => {
    for (const name of Object.keys(fds) as N[]) {
      rt.libc.close(fds[name]);
      delete fds[name];
    }
  };
  try {
    for (const spec of specs) {
      const opts = new Uint8Array(CREATE_OPTS_BYTES);
      const view = new DataView(opts.buffer);
      view.setBigUint64(0, BigInt(CREATE_OPTS_BYTES), true);
      view.setUint32(MAP_FLAGS_OFFSET, spec.flags, true);
      const fd = rt.libbpf.bpf_map_create(
        spec.type,
        cString(spec.name),
        spec.keySize,
        spec.valueSize,
        spec.maxEntries,
        opts,
      );
      if (fd < 0) throw new BpfError({ op: `create map ${spec.name} for`, object, errno: -fd });
      fds[spec.name] = fd;
    }
  } catch (err) {
    close();
    throw err;
  }
  return { fds, close };
}
