/**
 * The agent's TracingPolicies: the manager, with the policy engine (the policy objects of the
 * mechanism table, sharing the process object's ring buffer and maps) and the kernel facts loaded
 * on first use.
 *
 * @module
 */
import { probeKernel } from "../kernel/mod.ts";
import type { Logger } from "../log/logger.ts";
import {
  type EngineMechanism,
  ftraceLookup,
  type PlanFacts,
  planFactsFrom,
  PolicyEngine,
  PolicyManager,
  readHostNamespaces,
  readKernelSyscalls,
  tracefsFormatLookup,
} from "../policy/mod.ts";
import type { Cleanups } from "./cleanups.ts";
import type { Kernel } from "./kernel.ts";

/** The policy manager; its engine is loaded on first use. */
export interface Policies {
  readonly manager: PolicyManager;
  /** The engine, once a policy needed it. */
  engine(): PolicyEngine | null;
}

/** Starts the manager and loads `policyDir` (null: none). */
export async function startPolicies(
  config: {
    readonly policyDir: string | null;
    /** Hook mechanisms the engine may use (default: every one the table has a program for). */
    readonly policyMechanisms?: readonly EngineMechanism[];
    readonly logger: Logger;
  },
  kernel: Kernel,
  cleanups: Cleanups,
): Promise<Policies> {
  const { logger } = config;
  const { rt, object, ring, counters, cgroupV1Ssid } = kernel;
  // The policy engine shares the ring and the binaries map, so its events join the same stream.
  // Loaded on first use: an agent without policies pays neither its load nor the kernel probe.
  let engine: PolicyEngine | null = null;
  const getEngine = (): PolicyEngine => {
    if (engine) return engine;
    const loaded = PolicyEngine.load(
      rt,
      {
        events: ring.fd,
        exec_binaries: object.map("exec_binaries").fd,
        // Policy events must name the process instance the exec tracker knows.
        exec_keys: object.map("exec_keys").fd,
        counters: counters.fd,
      },
      cgroupV1Ssid,
      logger,
    );
    cleanups.push(() => loaded.close());
    loaded.ensureTracefs();
    return (engine = loaded);
  };
  let facts: PlanFacts | null = null;
  const getFacts = (): PlanFacts => {
    // tracefs must be mounted to read tracepoint formats.
    const loaded = getEngine();
    return (facts ??= planFactsFrom(probeKernel(rt), {
      tracepointFormat: tracefsFormatLookup(),
      hostNamespaces: readHostNamespaces(),
      functionInBtf: (name) => loaded.functionInBtf(name),
      kernelSyscalls: readKernelSyscalls(),
      ftrace: ftraceLookup(),
      ...(config.policyMechanisms === undefined ? {} : { engine: config.policyMechanisms }),
    }));
  };
  const manager = new PolicyManager({
    engine: getEngine,
    facts: getFacts,
    logger,
    policyDir: config.policyDir,
  });
  cleanups.push(() => manager.close());
  if (config.policyDir !== null) await manager.loadDir(config.policyDir);
  return { manager, engine: () => engine };
}
