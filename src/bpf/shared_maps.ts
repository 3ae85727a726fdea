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

/** struct bpf_map_create_opts of libbpf 1.1: 48 bytes; the fields vigil sets. */
const CREATE_OPTS_BYTES = 48;
const BTF_FD_OFFSET = 8;
const BTF_KEY_TYPE_ID_OFFSET = 12;
const BTF_VALUE_TYPE_ID_OFFSET = 16;
const MAP_FLAGS_OFFSET = 28;

/** Maps created from specs, by name; {@link OwnedMaps.close} closes vigil's fds. */
export interface OwnedMaps<N extends string> {
  readonly fds: Readonly<Record<N, number>>;
  close(): void;
}

/**
 * Creates one map per spec; on failure closes what it made. With `btf` (the object's, see
 * `BpfObject.btfImage`) the maps carry their key and value types, as the maps libbpf creates
 * do, so `bpftool map dump` prints them as structures. A kernel that refuses that BTF as it is
 * (libbpf adapts it to old kernels only while loading a whole object) gets the maps without.
 */
export function createMaps<N extends string>(
  rt: BpfRuntime,
  object: string,
  specs: readonly (MapSpec & { readonly name: N })[],
  btf: Uint8Array | null = null,
): OwnedMaps<N> {
  const fds = {} as Record<N, number>;
  const close = () => {
    for (const name of Object.keys(fds) as N[]) {
      rt.libc.close(fds[name]);
      delete fds[name];
    }
  };
  // The maps keep the kernel's BTF object alive; vigil's handle goes once they exist.
  const types = btf === null ? null : loadBtf(rt, btf);
  try {
    for (const spec of specs) {
      const typed = types !== null && spec.btfValueTypeId !== 0;
      let fd = createMap(rt, spec, typed ? types.fd : -1);
      // As libbpf does: a map the kernel will not type is made without types.
      if (fd < 0 && typed) fd = createMap(rt, spec, -1);
      if (fd < 0) throw new BpfError({ op: `create map ${spec.name} for`, object, errno: -fd });
      fds[spec.name] = fd;
    }
  } catch (err) {
    close();
    throw err;
  } finally {
    types?.free();
  }
  return { fds, close };
}

/** bpf_map_create for `spec`, typed from the BTF object `btfFd` unless it is -1; -errno on failure. */
function createMap(rt: BpfRuntime, spec: MapSpec, btfFd: number): number {
  const opts = new Uint8Array(CREATE_OPTS_BYTES);
  const view = new DataView(opts.buffer);
  view.setBigUint64(0, BigInt(CREATE_OPTS_BYTES), true);
  view.setUint32(MAP_FLAGS_OFFSET, spec.flags, true);
  if (btfFd >= 0) {
    view.setUint32(BTF_FD_OFFSET, btfFd, true);
    view.setUint32(BTF_KEY_TYPE_ID_OFFSET, spec.btfKeyTypeId, true);
    view.setUint32(BTF_VALUE_TYPE_ID_OFFSET, spec.btfValueTypeId, true);
  }
  return rt.libbpf.bpf_map_create(
    spec.type,
    cString(spec.name),
    spec.keySize,
    spec.valueSize,
    spec.maxEntries,
    opts,
  );
}

/** A copy of `image` loaded into the kernel, or null when the kernel refuses it. */
function loadBtf(rt: BpfRuntime, image: Uint8Array): { fd: number; free(): void } | null {
  const { libbpf } = rt;
  const btf = libbpf.btf__new(image, image.length); // libbpf keeps its own copy
  if (btf === null) return null;
  const free = () => libbpf.btf__free(btf);
  const rc = libbpf.btf__load_into_kernel(btf);
  // A refusal (old kernels) is handled here: its messages must not become a later error's reason.
  rt.takeMessages();
  if (rc !== 0) {
    free();
    return null;
  }
  return { fd: libbpf.btf__fd(btf), free };
}
