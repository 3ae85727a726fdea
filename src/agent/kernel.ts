/**
 * The kernel side of the agent: the cgroup hierarchy BPF reads ids from, libbpf, process.bpf.o
 * (with its rodata knob) and the reader of its events ring buffer.
 *
 * @module
 */
import { RODATA, STRUCTS } from "../bpf/abi.gen.ts";
import { BpfObject } from "../bpf/object.ts";
import { type BpfRuntime, openBpfRuntime } from "../bpf/runtime.ts";
import type { MapHandle } from "../bpf/map.ts";
import { type HostHierarchy, openHostHierarchy } from "../cgroup/host_hierarchy.ts";
import { chooseProcessObject } from "../kernel/process_object.ts";
import type { Logger } from "../log/logger.ts";
import { RingReader } from "../ringbuf/reader.ts";
import type { Cleanups } from "./cleanups.ts";

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
}

/** What {@link openKernel} needs of the agent's configuration. */
export interface KernelOptions {
  readonly useHostLibbpf: boolean;
  /** Ring buffer data size in bytes (power of two). */
  readonly ringBytes: number;
  /** Entries of the per-process exec maps (the process cache's size). */
  readonly processCacheSize: number;
  readonly logger: Logger;
}

/** Opens everything in order; each piece is on `cleanups` as soon as it exists. */
export function openKernel(config: KernelOptions, cleanups: Cleanups): Kernel {
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
  const object = BpfObject.load(rt, processObject.bytes, {
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
  });
  cleanups.push(() => object.close());

  const counters = object.map("counters");
  const ring = object.map("events");
  const reader = new RingReader(rt.libc, ring.fd, ring.maxEntries);
  cleanups.push(() => reader.close());
  return { hierarchy, cgroupV1Ssid, rt, object, counters, ring, reader };
}
