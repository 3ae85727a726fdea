/**
 * Plans `tracepoints[]` hooks: classic tracepoints stay themselves (args are format fields,
 * `common_*` included in the index), `raw_syscalls` ones are split into per-syscall tracepoints
 * when every selector allows it, and `raw: true` ones need a raw tracepoint program.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import type { HookSource, Mechanism, PlannedEvent, PlannedHook } from "./types.ts";
import type { TracepointHook } from "../spec/mod.ts";
import { planArg } from "./args.ts";
import { eventOf, failedHook, finishHook, type PlanEnv } from "./hook.ts";
import { fieldAt, tracepointHook } from "./tp_hook.ts";
import { IssueSink } from "./issues.ts";
import { explainChoice, MECHANISM_NAMES, option, tracepointCost } from "./mechanism.ts";
import { isRawSyscalls, rewriteRawSyscalls } from "./raw_syscalls.ts";
import { planSelectors } from "./selectors.ts";

/** Plans one `tracepoints[]` entry (several hooks when a raw_syscalls hook is split). */
export function planTracepoint(hook: TracepointHook, index: number, env: PlanEnv): PlannedHook[] {
  const key = `${hook.subsystem}/${hook.event}`;
  const name = `tracepoints[${index}] ${key}`;
  const source: HookSource = { list: "tracepoints", index, at: hook.at, role: "entry" };
  const event = eventOf(env, hook, {
    kind: "process_tracepoint",
    subsys: hook.subsystem,
    event: hook.event,
  });
  if (hook.raw) return [rawTracepoint(hook, name, source, event, env)];

  const lookup = env.facts.tracepointFormat(hook.subsystem, hook.event);
  const mechanism: Mechanism = hook.subsystem === "syscalls" ? "syscall_tracepoint" : "tracepoint";
  const options = [option(env.facts, mechanism, lookup.error)];
  const cost = tracepointCost(hook.subsystem, hook.event);
  const format = lookup.format;
  if (format === undefined || !options[0]?.usable) {
    return [failedHook(
      { name, source, options, cost, event, monitor: env.monitor },
      `tracepoint ${key} cannot be attached on this kernel: ${options[0]?.reason}`,
      new IssueSink(env.policy.file),
    )];
  }
  let why = `the policy names the tracepoint ${key}: attached as written (${options[0]?.reason})`;
  const sink = new IssueSink(env.policy.file);
  if (isRawSyscalls(hook)) {
    const split = rewriteRawSyscalls(hook, index, env, format);
    if (split.hooks !== undefined) return split.hooks;
    why = `kept on ${key}: ${split.refused}`;
    sink.warn(
      hook.at,
      `${key} runs this hook's program on every syscall of every task (the field's 400%-CPU ` +
        `pattern), and vigil cannot split it into per-syscall tracepoints: ${split.refused}. ` +
        `Hook each syscall instead (kprobes with call: sys_NAME and syscall: true), or make every ` +
        `selector restrict the syscall id with InMap or Equal`,
    );
  }
  return [tracepointHook({
    hook,
    env,
    sink,
    format,
    fieldFor: (a) => fieldAt(format, a),
    selectors: hook.selectors,
    selectorIndexes: hook.selectors.map((_, i) => i),
    name,
    source,
    mechanism,
    options,
    why,
    cost,
    event,
  })];
}

function rawTracepoint(
  hook: TracepointHook,
  name: string,
  source: HookSource,
  event: PlannedEvent,
  env: PlanEnv,
): PlannedHook {
  const options = [option(env.facts, "raw_tracepoint")];
  const cost = tracepointCost(hook.subsystem, hook.event);
  const sink = new IssueSink(env.policy.file);
  if (!options[0]?.usable) {
    return failedHook(
      { name, source, options, cost, event, monitor: env.monitor },
      `raw tracepoint ${hook.event} cannot run: ${options[0]?.reason}`,
      sink,
    );
  }
  const mechanism = MECHANISM_NAMES.raw_tracepoint;
  const args = hook.args.map((a) =>
    planArg(a, "arg", {
      desc: `TP_PROTO arg ${a.index} of ${hook.event}`,
      userPointers: false,
      mechanism,
      functionIndex: a.index,
    }, { args: hook.args, sink })
  );
  const selectors = planSelectors(
    hook.selectors,
    { sink, facts: env.facts, args, mechanism, kprobe: false },
    { kind: "entry" },
  );
  return finishHook(
    {
      name,
      source,
      mechanism: "raw_tracepoint",
      attach: { kind: "raw_tracepoint", event: hook.event },
      why: explainChoice(options, `the raw tracepoint ${hook.event}`),
      options,
      cost,
      monitor: env.monitor,
      exit: false,
      retOffset: 0,
      recSize: 0,
      args,
      selectors,
      event,
    },
    sink,
  );
}
