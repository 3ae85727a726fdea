/**
 * The policy planner: for each hook of a validated policy, the cheapest mechanism this kernel
 * allows, why, what it costs, and everything the compiler needs, or the precise reason the hook
 * cannot run here. Pure: the kernel is described by {@link PlanFacts} (feature probe answers and
 * a tracepoint format lookup), so plans are unit-tested on captured facts of any kernel.
 *
 * Choices:
 * - syscall kprobes (`syscall: true`, `list:` calls expanded to one hook per syscall): fentry,
 *   else kprobe, else the syscall's own `syscalls/sys_enter_<entry>` tracepoint (plus
 *   `sys_exit_<entry>` for `return: true`);
 * - `raw_syscalls/sys_enter|sys_exit` hooks whose every selector restricts the syscall id: split
 *   into per-syscall tracepoints (see `raw_syscalls.ts`), else kept with a warning;
 * - other tracepoints stay themselves; non-syscall kprobes need fentry or kprobe, LSM hooks the
 *   BPF LSM, and uprobes are refused (the engine has no uprobe program).
 *
 * @module
 */

import { ENUMS } from "../../bpf/abi.gen.ts";
import type { PlanFacts, PlannedHook, PolicyPlan, SetSizes } from "./types.ts";
import { ENGINE_PROGRAMS } from "../mechanisms/mod.ts";
import type { Policy, PolicyIssue } from "../spec/mod.ts";
import { addSizes, type PlanEnv } from "./hook.ts";
import { IssueSink } from "./issues.ts";
import { planKprobe, planLsm, planUprobe } from "./kprobe.ts";
import { planTracepoint } from "./tracepoint.ts";

function policyChecks(policy: Policy, sink: IssueSink): void {
  const { spec } = policy;
  sink.errors.push(...spec.notRunnable);
  if (policy.kind === "TracingPolicyNamespaced") {
    sink.error(
      policy.nameAt,
      "TracingPolicyNamespaced applies to the pods of a Kubernetes namespace; vigil has no " +
        "in-kernel pod filter yet: use a TracingPolicy",
    );
  }
  for (
    const [field, sel] of [
      ["podSelector", spec.podSelector],
      ["containerSelector", spec.containerSelector],
    ] as const
  ) {
    if (sel !== undefined) {
      sink.error(
        sel.at,
        `${field} needs an in-kernel pod/container filter, which vigil has not yet`,
      );
    }
  }
  // spec.enforcers needs no program of its own: NotifyEnforcer's signal is sent from the
  // notifying hook, and one with argError is refused where it is written (plan/selectors.ts).
  if (spec.loader) {
    sink.error(policy.nameAt, "loader: true (process_loader events) is not supported by vigil");
  }
}

function dedupe(issues: readonly PolicyIssue[]): PolicyIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.line}:${i.column}:${i.path}:${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Plans `policy` on the kernel `facts` describe. Never throws for a policy the parser accepted:
 * what cannot run is in `errors`, and `runnable` is false with the `reason`.
 *
 * @example
 * ```ts
 * const plan = planPolicy(policy, {
 *   features: report.features,
 *   tracepointFormat: tracefsFormatLookup(),
 * });
 * plan.hooks[0]?.mechanism; // "syscall_tracepoint" on a kernel without kprobes and fentry
 * plan.hooks[0]?.why; // "fentry and kprobe are not usable here (see options), so ..."
 * ```
 */
export function planPolicy(policy: Policy, facts: PlanFacts): PolicyPlan {
  const monitor = policy.spec.options.policyMode === "monitor";
  const sink = new IssueSink(policy.file);
  const env: PlanEnv = { policy, facts, monitor, policySink: sink };
  policyChecks(policy, sink);
  const { spec } = policy;
  const hooks: PlannedHook[] = [
    ...spec.kprobes.flatMap((h, i) => planKprobe(h, i, "kprobes", env)),
    ...spec.fentries.flatMap((h, i) => planKprobe(h, i, "fentries", env)),
    ...spec.tracepoints.flatMap((h, i) => planTracepoint(h, i, env)),
    ...spec.lsmhooks.map((h, i) => planLsm(h, i, env)),
    ...spec.uprobes.map((h, i) => planUprobe(h, i, env)),
  ];
  const maxHooks = ENUMS.vigil_policy_limits.VIGIL_MAX_HOOKS;
  if (hooks.length > maxHooks) {
    sink.error(
      policy.nameAt,
      `the policy needs ${hooks.length} hooks; the engine holds at most ${maxHooks}`,
    );
  }
  const hookCount = spec.kprobes.length + spec.fentries.length + spec.tracepoints.length +
    spec.lsmhooks.length + spec.uprobes.length;
  if (hookCount === 0) sink.warn(policy.nameAt, "the policy has no hooks: it never fires");
  const errors = dedupe([...sink.errors, ...hooks.flatMap((h) => h.errors)]);
  const warnings = dedupe([...sink.warnings, ...hooks.flatMap((h) => h.warnings)]);
  const empty: SetSizes = { sets: 0, str: 0, lpm: 0, int: 0 };
  const sets = hooks.filter((h) => h.runnable).reduce((acc, h) => addSizes(acc, h.sets), empty);
  const first = errors[0];
  return {
    policyName: policy.name,
    file: policy.file,
    mode: policy.spec.options.policyMode,
    runnable: first === undefined,
    ...(first === undefined ? {} : {
      reason: `${first.path === "" ? "" : `${first.path}: `}${first.message}${
        errors.length > 1
          ? ` (and ${errors.length - 1} more error${errors.length > 2 ? "s" : ""})`
          : ""
      }`,
    }),
    hooks,
    errors,
    warnings,
    sets,
    engine: facts.engine ?? ENGINE_PROGRAMS,
  };
}
