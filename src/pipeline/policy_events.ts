/**
 * The handler of policy records: the hook id names the policy and the hook's line constants
 * (its route), the record's process key names the process and parent the exec tracker knows, and
 * the line leaves through the gate, at once or once the container's metadata is known.
 *
 * @module
 */
import { detachPolicyRecord } from "../events/decode.ts";
import type { PolicyRecord } from "../events/records.ts";
import type { BootTimeFormatter } from "../process/format.ts";
import type { ProcessInfo } from "../process/types.ts";
import { type HookEventInfo, policyEventLine } from "../policy/mod.ts";
import type { EventGate, EventLines } from "../workload/gate.ts";

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
  readonly clock: BootTimeFormatter;
  readonly nodeName: string;
  /** Where the user-space time spent on each policy's records goes (the CPU-budget guard's). */
  readonly userTime?: { add(policy: string, ns: number): void };
}

/** One policy event: the record and the line constants of its hook. */
interface PolicyEvent {
  readonly record: PolicyRecord;
  readonly info: HookEventInfo;
}

/** Turns policy records into event lines; owns its one counter. */
export class PolicyEvents implements EventLines<PolicyEvent> {
  readonly #deps: PolicyEventsDeps;
  /** Records whose hook was already gone (policy deleted or replaced since the kernel wrote them). */
  unrouted = 0;

  constructor(deps: PolicyEventsDeps) {
    this.#deps = deps;
  }

  onRecord(record: PolicyRecord): void {
    const started = performance.now();
    const { routes, processes, gate, userTime } = this.#deps;
    const route = routes.route(record.hookId);
    if (route === undefined) {
      this.unrouted++;
      return;
    }
    const [process, parent] = processes.instances(record.pid, record.ktimeKey);
    const { info, policy } = route;
    gate.emitOrPark(info.kind, policy, this, { record, info }, process, parent);
    userTime?.add(policy, (performance.now() - started) * 1e6);
  }

  line(ev: PolicyEvent, process: string | undefined, parent: string | undefined): string {
    const { clock, nodeName } = this.#deps;
    return policyEventLine(
      ev.record,
      ev.info,
      process,
      parent,
      nodeName,
      clock.format(ev.record.ktime),
    );
  }

  /** Waits for the container's metadata: the arg data must outlive the ring slot. */
  keep(ev: PolicyEvent): PolicyEvent {
    return { record: detachPolicyRecord(ev.record), info: ev.info };
  }
}
