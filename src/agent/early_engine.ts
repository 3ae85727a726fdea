/**
 * The policy engine's object loaded beside process.bpf.o at start, when the policy directory
 * has files: the kernel verifies the two on two threads (the engine's ~0.1 s was the longest step
 * of start-up), while this thread also attaches the process programs and parses the policies.
 * libbpf's messages are off until the engine's load settles, since libbpf would call the print
 * callback from the other thread (see BpfObject.loadInBackground). A failed load here is only
 * noted: the policies' first use loads the engine again on this thread, with its messages, where
 * the failure is explained (or the planner never asks for it on a kernel without bpf_loop).
 *
 * @module
 */
import type { BpfRuntime } from "../bpf/runtime.ts";
import type { Logger } from "../log/logger.ts";
import { PolicyEngine, type SharedMaps } from "../policy/mod.ts";

/** One engine load on another thread; its owner is whoever {@link EarlyEngine.take}s it. */
export class EarlyEngine {
  readonly #settled: Promise<void>;
  #engine: PolicyEngine | null = null;
  #taken = false;

  private constructor(settled: (early: EarlyEngine) => Promise<void>) {
    this.#settled = settled(this);
  }

  /**
   * Starts the load against `shared` (the engine's object takes its own copies of those fds
   * before this returns, so the caller may close them).
   */
  static start(
    rt: BpfRuntime,
    shared: SharedMaps,
    cgroupV1Ssid: number,
    logger: Logger,
  ): EarlyEngine {
    const restore = rt.quiet();
    const started = performance.now();
    return new EarlyEngine(async (early) => {
      try {
        early.#engine = await PolicyEngine.loadInBackground(rt, shared, cgroupV1Ssid, logger);
        logger.debug("policy engine loaded beside start-up", {
          load_ms: Math.round(performance.now() - started),
        });
      } catch (err) {
        logger.debug("policy engine: the load beside start-up failed; its first use loads again", {
          error: err instanceof Error ? err.message : String(err),
        });
      } finally {
        restore();
      }
    });
  }

  /** Resolves once the load ended, loaded or not (libbpf's messages are back on by then). */
  settled(): Promise<void> {
    return this.#settled;
  }

  /** The loaded engine, once settled, handed to the caller; null when it did not load. */
  take(): PolicyEngine | null {
    if (this.#taken) return null;
    this.#taken = true;
    const engine = this.#engine;
    this.#engine = null;
    return engine;
  }

  /** Waits for the load and closes the engine unless it was taken. Idempotent. */
  async close(): Promise<void> {
    await this.#settled;
    this.#taken = true;
    this.#engine?.close();
    this.#engine = null;
  }
}
