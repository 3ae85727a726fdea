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
  ENGINE_NEEDS,
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
  // A failed load is kept: every policy that needs the engine goes to the error state with this
  // reason, and the agent runs on without re-trying the load for each one.
  let engineError: Error | null = null;
  const getEngine = (): PolicyEngine => {
    if (engine) return engine;
    if (engineError) throw engineError;
    try {
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
      engine = loaded;
      loaded.ensureTracefs();
      return loaded;
    } catch (err) {
      const message = `the policy engine did not load: ${
        err instanceof Error ? err.message : String(err)
      }`;
      logger.error("policy engine load failed", { error: message });
      engine = null;
      engineError = new Error(message, { cause: err });
      throw engineError;
    }
  };
  let facts: PlanFacts | null = null;
  const getFacts = (): PlanFacts => {
    if (facts) return facts;
    const report = probeKernel(rt);
    // The engine is loaded for planning (it mounts tracefs, whose formats the planner reads, and
    // holds the kernel BTF) only where the kernel has what it needs: elsewhere the planner says
    // which helper is missing, and a load would only fail.
    const canLoad = ENGINE_NEEDS.every((need) => report.features[need]?.supported === true);
    let loaded: PolicyEngine | null = null;
    if (canLoad) {
      try {
        loaded = getEngine();
      } catch {
        // Logged by getEngine; the policies get the reason when they are installed.
      }
    }
    const btfOf = loaded;
    return (facts = planFactsFrom(report, {
      tracepointFormat: tracefsFormatLookup(),
      hostNamespaces: readHostNamespaces(),
      ...(btfOf === null ? {} : { functionInBtf: (name) => btfOf.functionInBtf(name) }),
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
