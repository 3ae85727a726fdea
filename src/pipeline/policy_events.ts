/**
 * The handler of policy records: the hook id names the policy and the hook's line constants
 * (its route), the record's process key names the process and parent the exec tracker knows, and
 * the line leaves through the gate, at once or once the container's metadata is known.
 *
 * @module
 */
import type { PolicyRecord } from "../events/records.ts";
import { detachPolicyRecord } from "../events/decode.ts";
import { cachedProcessJson } from "../events/process_json.ts";
import type { BootTimeFormatter } from "../process/format.ts";
import type { ProcessInfo } from "../process/types.ts";
import { type HookEventInfo, policyEventLine } from "../policy/mod.ts";
import type { EventGate } from "./parking.ts";
import type { EventSink } from "./out.ts";
import { containerIdOf } from "./workload.ts";

/** The loaded hooks, by the id the kernel writes into each record (the policy manager). */
export interface PolicyRoutes {
  route(hookId: number): { readonly policy: string; readonly info: HookEventInfo } | undefined;
}

/** The processes policy events are about (the process tracker). */
export interface ProcessInstances {
  instances(pid: number, ktime: bigint): [ProcessInfo | undefined, ProcessInfo | undefined];
}

/** Collaborators of {@link PolicyEvents}. */
export interface PolicyEventsDeps {
  readonly routes: PolicyRoutes;
  readonly processes: ProcessInstances;
  readonly gate: EventGate;
  readonly out: EventSink;
  readonly clock: BootTimeFormatter;
  readonly nodeName: string;
}

/** Turns policy records into event lines; owns its one counter. */
export class PolicyEvents {
  readonly #deps: PolicyEventsDeps;
  /** Records whose hook was already gone (policy deleted or replaced since the kernel wrote them). */
  unrouted = 0;

  constructor(deps: PolicyEventsDeps) {
    this.#deps = deps;
  }

  onRecord(rec: PolicyRecord): void {
    const { routes, processes, gate, out, clock, nodeName } = this.#deps;
    const route = routes.route(rec.hookId);
    if (route === undefined) {
      this.unrouted++;
      return;
    }
    const [process, parent] = processes.instances(rec.pid, rec.ktimeKey);
    const { info, policy } = route;
    if (gate.ready(process, parent)) {
      const line = policyEventLine(
        rec,
        info,
        process === undefined ? undefined : cachedProcessJson(process),
        parent === undefined ? undefined : cachedProcessJson(parent),
        nodeName,
        clock.format(rec.ktime),
      );
      out.emit(info.kind, line, policy, containerIdOf(process));
    } else {
      // Waits for the container's metadata: the arg data must outlive the ring slot.
      const kept = detachPolicyRecord(rec);
      const time = clock.format(rec.ktime);
      gate.submit({
        type: info.kind,
        policy,
        process,
        parent,
        line: (p, q) => policyEventLine(kept, info, p, q, nodeName, time),
      });
    }
  }
}
