/**
 * The kernel side of the agent: the cgroup hierarchy BPF reads ids from, libbpf, process.bpf.o
 * (with its rodata knob) and the reader of its events ring buffer.
 *
 * @module
 */
import { RODATA, STRUCTS } from "../bpf/abi.gen.ts";
import { BpfObject, type LoadOptions } from "../bpf/object.ts";
import { createMaps } from "../bpf/shared_maps.ts";
import { type BpfRuntime, openBpfRuntime } from "../bpf/runtime.ts";
import type { MapHandle } from "../bpf/map.ts";
import { type HostHierarchy, openHostHierarchy } from "../cgroup/host_hierarchy.ts";
import { chooseProcessObject } from "../kernel/process_object.ts";
import type { Logger } from "../log/logger.ts";
import { RingReader } from "../ringbuf/reader.ts";
import type { Cleanups } from "./cleanups.ts";
import { EarlyEngine } from "./early_engine.ts";

const VMLINUX_BTF = "/sys/kernel/btf/vmlinux";

/** CO-RE needs the kernel's own BTF; say so plainly instead of failing deep inside libbpf. */
export function requireKernelBtf(): void {
  try {
    Deno.statSync(VMLINUX_BTF);
  } catch {
    throw new Error(
      `kernel has no BTF at ${VMLINUX_BTF}; vigil needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    );
  }
}

/** The kernel side: the cgroup hierarchy, libbpf, process.bpf.o and its ring buffer. */
export interface Kernel {
  readonly hierarchy: HostHierarchy;
  /** The v1 controller's subsystem index BPF reads cgroup ids from; -1 on cgroup v2. */
  readonly cgroupV1Ssid: number;
  readonly rt: BpfRuntime;
  readonly object: BpfObject;
  readonly counters: MapHandle;
  readonly ring: MapHandle;
  readonly reader: RingReader;
  /** The policy engine loading beside process.bpf.o; null when not asked for or not possible. */
  readonly early: EarlyEngine | null;
}

/** What {@link openKernel} needs of the agent's configuration. */
export interface KernelOptions {
  readonly useHostLibbpf: boolean;
  /** Ring buffer data size in bytes (power of two). */
  readonly ringBytes: number;
  /** Entries of the per-process exec maps (the process cache's size). */
  readonly processCacheSize: number;
  /**
   * Load the policy engine beside process.bpf.o (when the kernel has bpf_loop, which the engine
   * needs): set when policies are to be loaded at start.
   */
  readonly engineBeside?: boolean;
  readonly logger: Logger;
}

/** The maps process.bpf.o shares with the policy engine (events join one stream). */
const SHARED_WITH_ENGINE = ["events", "exec_binaries", "exec_keys", "counters"] as const;

/** Opens everything in order; each piece is on `cleanups` as soon as it exists. */
export async function openKernel(config: KernelOptions, cleanups: Cleanups): Promise<Kernel> {
  const { logger } = config;
  // The hierarchy BPF reads cgroup ids from; both sides must agree (see src/cgroup/).
  const hierarchy = openHostHierarchy({ logger });
  cleanups.push(() => hierarchy.close());
  const selector = hierarchy.selector;
  const cgroupV1Ssid = selector.version === 1 ? selector.subsysIndex : -1;
  logger.info("cgroup hierarchy", {
    mountpoint: hierarchy.mountpoint,
    version: selector.version,
    ...(selector.version === 1
      ? { controller: selector.controller, ssid: selector.subsysIndex }
      : {}),
  });

  const rt = openBpfRuntime({ useHostLibbpf: config.useHostLibbpf, logger });
  cleanups.push(() => rt.close());
  logger.info("libbpf loaded", { version: rt.libbpfVersion, source: rt.libbpfSource });

  // Kernels before 5.17 (no bpf_loop) get the build without loop callbacks.
  const processObject = chooseProcessObject(rt);
  logger.info("process object", { bpfLoop: processObject.bpfLoop });
  const options: LoadOptions = {
    name: "process.bpf.o",
    // Sized to the host (src/bpf/sizing.ts): the exec maps hold one entry per live process.
    maxEntries: {
      events: config.ringBytes,
      exec_binaries: config.processCacheSize,
      exec_keys: config.processCacheSize,
    },
    rodata: (view) => {
      const cfg = RODATA["process.bpf.o"].cfg.offset;
      const ssid = STRUCTS.vigil_process_config.fields.cgroup_v1_ssid.offset;
      view.setInt32(cfg + ssid, cgroupV1Ssid, true);
    },
  };
  let early: EarlyEngine | null = null;
  let object: BpfObject;
  if (config.engineBeside === true && processObject.bpfLoop) {
    ({ object, early } = await loadBesideEngine(rt, processObject.bytes, options, {
      cgroupV1Ssid,
      logger,
    }));
    const started = early;
    cleanups.push(() => started.close());
  } else {
    object = BpfObject.load(rt, processObject.bytes, options);
  }
  cleanups.push(() => object.close());

  const counters = object.map("counters");
  const ring = object.map("events");
  const reader = new RingReader(rt.libc, ring.fd, ring.maxEntries);
  cleanups.push(() => reader.close());
  return { hierarchy, cgroupV1Ssid, rt, object, counters, ring, reader, early };
}

/**
 * process.bpf.o and the policy engine's object, verified at once on two threads: the maps they
 * share are created first from process.bpf.o's definitions. A failure of process.bpf.o (with
 * libbpf's messages off) is loaded again, once the engine settled, for the error's details.
 */
async function loadBesideEngine(
  rt: BpfRuntime,
  bytes: Uint8Array,
  options: LoadOptions,
  engine: { readonly cgroupV1Ssid: number; readonly logger: Logger },
): Promise<{ object: BpfObject; early: EarlyEngine }> {
  const object = BpfObject.open(rt, bytes, options);
  let early: EarlyEngine;
  try {
    const specs = SHARED_WITH_ENGINE.map((n) => object.mapSpec(n));
    const maps = createMaps(rt, options.name, specs, object.btfImage());
    try {
      for (const name of SHARED_WITH_ENGINE) object.reuseMap(name, maps.fds[name]);
      early = EarlyEngine.start(rt, maps.fds, engine.cgroupV1Ssid, engine.logger);
    } finally {
      // Both objects hold their own copies now.
      maps.close();
    }
  } catch (err) {
    object.close();
    throw err;
  }
  try {
    object.loadOpened();
    return { object, early };
  } catch (err) {
    object.close();
    await early.close();
    // Again with libbpf's messages on, for the reason (the first error if it loads this time).
    BpfObject.load(rt, bytes, options).close();
    throw err;
  }
}
