/**
 * The agent's TracingPolicies: the manager, with the policy engine (the policy objects of the
 * mechanism table, sharing the process object's ring buffer and maps) and the kernel facts loaded
 * on first use, and the CPU-budget guard that watches them (and runs shadow preflights).
 *
 * @module
 */
import { KernelBtf } from "../bpf/btf.ts";
import type { BpfRuntime } from "../bpf/runtime.ts";
import { probeKernel } from "../kernel/mod.ts";
import type { Logger } from "../log/logger.ts";
import { readProgramInfo } from "../metrics/bpf_stats.ts";
import {
  BudgetGuard,
  DEFAULT_BUDGET_WINDOW_MS,
  DEFAULT_CPU_BUDGET,
} from "../policy/runtime/budget_guard.ts";
import type { MeterSource } from "../policy/runtime/budget_meter.ts";
import { runShadow } from "../policy/runtime/shadow.ts";
import { PolicyUserTime } from "../policy/runtime/user_time.ts";
import {
  ENGINE_NEEDS,
  type EngineMechanism,
  ftraceLookup,
  OffThreadParser,
  parsePolicyLazily,
  type ParseResult,
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

/** The CPU-budget guard's settings (defaults in budget_guard.ts). */
export interface BudgetConfig {
  /** A fraction of one CPU per policy. */
  readonly cpuBudget?: number;
  readonly windowMs?: number;
  readonly detachEnforcing?: boolean;
}

/**
 * Parses policy texts on this thread while the agent starts, in the off-thread parser's worker
 * after that. At start nothing else needs the event loop yet (the ring reader and the API start
 * after the policies) and the files come from the operator's policy directory, bounded by the
 * parser's input limits; starting a worker for them cost ~0.1 s of start-up and left its isolate
 * (~10 MiB of RSS) until a full GC. Texts that arrive later (API, reload) keep the worker and its
 * deadline.
 */
class StartupParser {
  readonly #logger: Logger;
  #offThread: OffThreadParser | null = null;
  #starting = true;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  parse(text: string, file: string): Promise<ParseResult> {
    if (this.#starting) return parsePolicyLazily(text, file);
    this.#offThread ??= new OffThreadParser({ logger: this.#logger });
    return this.#offThread.parse(text, file);
  }

  /** Start-up is over: later texts go to the worker. */
  started(): void {
    this.#starting = false;
  }

  close(): void {
    this.#starting = false;
    this.#offThread?.close();
  }
}

/** How long the planner's kernel BTF stays parsed after its last use (after start-up). */
const PLANNING_BTF_IDLE_MS = 2_000;

/**
 * The kernel's BTF for the planner's "does the kernel have function X" question: libbpf's parse
 * of /sys/kernel/btf/vmlinux is ~6 MiB of C heap, so it is freed once the agent has started and,
 * later, a short while after its last use, instead of living as long as the agent.
 */
class PlanningBtf {
  readonly #rt: BpfRuntime;
  #btf: KernelBtf | null = null;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #starting = true;

  constructor(rt: BpfRuntime) {
    this.#rt = rt;
  }

  hasFunction(name: string): boolean {
    this.#btf ??= new KernelBtf(this.#rt);
    const found = this.#btf.functionArgCount(name) !== undefined;
    if (!this.#starting) {
      clearTimeout(this.#idle);
      this.#idle = setTimeout(() => this.release(), PLANNING_BTF_IDLE_MS);
      Deno.unrefTimer(this.#idle);
    }
    return found;
  }

  /** Start-up is over: frees the parse now; later uses free it after a short idle. */
  started(): void {
    this.#starting = false;
    this.release();
  }

  release(): void {
    clearTimeout(this.#idle);
    this.#btf?.close();
    this.#btf = null;
  }
}

/** The policy manager; its engine is loaded on first use. */
export interface Policies {
  readonly manager: PolicyManager;
  /** The engine, once a policy needed it. */
  engine(): PolicyEngine | null;
  /** The agent's user-space time per policy (the event loop adds to it, the guard reads it). */
  readonly userTime: PolicyUserTime;
  /** Detaches what the kernel probe left attached at start (call once ready). */
  releaseProbes(): void;
}

/** Where the guard's own events go, and how many events each policy has had exported. */
export interface PolicyEventOut {
  emit(type: string, line: string, policy: string | undefined, container: undefined): void;
  /** Hands what was emitted to the OS (the record loop flushes only after ring records). */
  flush(): void;
  exported(policy: string): number;
}

/** Starts the manager, loads `policyDir` (null: none) and starts the budget guard. */
export async function startPolicies(
  config: {
    readonly policyDir: string | null;
    /** Hook mechanisms the engine may use (default: every one the table has a program for). */
    readonly policyMechanisms?: readonly EngineMechanism[];
    /** Per-policy CPU budget guard (`--policy-cpu-budget`, `--policy-budget-window`, ...). */
    readonly budget?: BudgetConfig;
    readonly nodeName: string;
    readonly logger: Logger;
  },
  kernel: Kernel,
  out: PolicyEventOut,
  cleanups: Cleanups,
): Promise<Policies> {
  const { logger } = config;
  const { rt, object, ring, counters, cgroupV1Ssid, early } = kernel;
  // The policy engine shares the ring and the binaries map, so its events join the same stream.
  // Loaded on first use: an agent without policies pays neither its load nor the kernel probe.
  let engine: PolicyEngine | null = null;
  // A failed load is kept: every policy that needs the engine goes to the error state with this
  // reason, and the agent runs on without re-trying the load for each one.
  let engineError: Error | null = null;
  const getEngine = (): PolicyEngine => {
    if (engine) return engine;
    if (engineError) throw engineError;
    let loaded: PolicyEngine | null | undefined;
    try {
      // Loaded beside process.bpf.o at start (settled before planning); else, or if that load
      // failed, here, where libbpf's messages explain a failure.
      loaded = early?.take() ?? PolicyEngine.load(
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
      loaded.ensureTracefs();
      engine = loaded;
      return loaded;
    } catch (err) {
      loaded?.close();
      const message = `the policy engine did not load: ${
        err instanceof Error ? err.message : String(err)
      }`;
      logger.error("policy engine load failed", { error: message });
      engine = null;
      engineError = new Error(message, { cause: err });
      throw engineError;
    }
  };
  // Released after the manager (cleanups unwind in reverse): its policies' hooks go first,
  // then the engine's objects and maps. The engine loads on the first policy, after this.
  cleanups.push(() => engine?.close());
  // Null once started: a probe after that (a policy added later) detaches at once.
  let probeLinks: (() => void)[] | null = [];
  const releaseProbes = () => {
    const links = probeLinks ?? [];
    probeLinks = null;
    for (const close of links) close();
  };
  cleanups.push(releaseProbes);
  const planningBtf = new PlanningBtf(rt);
  cleanups.push(() => planningBtf.release());
  let facts: PlanFacts | null = null;
  const getFacts = (): PlanFacts => {
    if (facts) return facts;
    // The probes' detaches wait for the kernel (tens of ms each): at start, done after ready.
    const report = probeKernel(rt, probeLinks === null ? undefined : (c) => probeLinks?.push(c));
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
    return (facts = planFactsFrom(report, {
      tracepointFormat: tracefsFormatLookup(),
      hostNamespaces: readHostNamespaces(),
      ...(loaded === null ? {} : { functionInBtf: (name) => planningBtf.hasFunction(name) }),
      kernelSyscalls: readKernelSyscalls(),
      ftrace: ftraceLookup(),
      ...(config.policyMechanisms === undefined ? {} : { engine: config.policyMechanisms }),
    }));
  };
  const budget = config.budget ?? {};
  const defaultBudget = budget.cpuBudget ?? DEFAULT_CPU_BUDGET;
  let guard: BudgetGuard | null = null;
  const userTime = new PolicyUserTime();
  // What the budget guard and shadow runs read from the kernel (null before the engine loads).
  const meterSource = (): MeterSource | null => {
    const loaded = engine;
    return loaded === null ? null : {
      hookProgramFd: (id) => loaded.hookProgramFd(id),
      programFds: () => loaded.programFds(),
      hookGeneration: (id) => loaded.hookGeneration(id),
      counters: (id) => loaded.counters(id),
      runTimeNs: (fd) => {
        try {
          return readProgramInfo(rt.libbpf, fd).runTimeNs;
        } catch {
          return 0n;
        }
      },
    };
  };
  const parser = new StartupParser(logger);
  const manager: PolicyManager = new PolicyManager({
    engine: getEngine,
    facts: getFacts,
    logger,
    policyDir: config.policyDir,
    parser,
    budgetStatus: (name) => guard?.status(name),
    exported: (name) => out.exported(name),
    beforePlanning: () => early?.settled() ?? Promise.resolve(),
    shadow: (yaml, seconds) =>
      runShadow(
        {
          policies: manager,
          source: meterSource,
          defaultBudget,
          userNsPerEvent: () => userTime.averageNs(),
        },
        yaml,
        seconds,
      ),
  });
  cleanups.push(() => manager.close());
  if (config.policyDir !== null) await manager.loadDir(config.policyDir);
  // No policy of the directory took the engine loaded beside start-up (all invalid, or the
  // kernel lacks what the engine needs): it is released; a policy added later loads it again.
  if (engine === null) await early?.close();
  parser.started();
  planningBtf.started();

  // The CPU-budget guard: measures each policy per window and walks the degradation ladder.
  const started = new BudgetGuard({
    policies: manager,
    source: meterSource,
    userTime,
    // Flushed at once: a guard event must not wait in the export buffer for the next ring
    // record (on a quiet host that took minutes in the kernel lab).
    emit: (type, line, policy) => {
      out.emit(type, line, policy, undefined);
      out.flush();
    },
    logger,
    nodeName: config.nodeName,
    defaultBudget,
    windowMs: budget.windowMs ?? DEFAULT_BUDGET_WINDOW_MS,
    detachEnforcing: budget.detachEnforcing ?? false,
  });
  guard = started;
  started.start();
  cleanups.push(() => started.close());
  return { manager, engine: () => engine, userTime, releaseProbes };
}
