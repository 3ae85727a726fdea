/**
 * Expands the hooks on generated lists against this kernel: `generated_syscalls` to the syscalls
 * the kernel has (not vigil's table, which lists syscalls a kernel may lack and lacks new ones),
 * `generated_ftrace` to the functions of `available_filter_functions` its pattern matches.
 *
 * Internal to this stage: other code goes through `mod.ts`.
 *
 * @module
 */

import { syscallByEntry } from "../vocab/mod.ts";
import type { CallTarget, KprobeHook } from "../spec/mod.ts";
import type { PlanEnv } from "./hook.ts";
import { unsafePatternReason } from "./safe_pattern.ts";

/** The targets of a hook on a generated list, or why they cannot be listed here. */
export type Expansion =
  | { readonly targets: readonly CallTarget[]; readonly note?: string; readonly error?: undefined }
  | { readonly error: string };

/**
 * The targets of `hook` on this kernel when its `call` is a generated list; `undefined` for any
 * other hook (its targets stand as parsed).
 */
export function expandGenerated(hook: KprobeHook, env: PlanEnv): Expansion | undefined {
  if (hook.callList === undefined) return undefined;
  const list = env.policy.spec.lists.find((l) => l.name === hook.callList);
  if (list?.type === "generated_syscalls") {
    const ks = env.facts.kernelSyscalls;
    if (ks === undefined) return undefined;
    if (ks.error !== undefined) {
      return {
        targets: hook.targets,
        note: `cannot list this kernel's syscalls (${ks.error}); list '${list.name}' uses ` +
          `vigil's x86_64 table instead`,
      };
    }
    const targets = [...ks.x64].sort().map((entry): CallTarget => {
      const ref = syscallByEntry(entry);
      return ref === undefined
        ? { written: `sys_${entry}` }
        : { written: `sys_${ref.name}`, syscall: ref };
    });
    return { targets, note: `list '${list.name}': ${targets.length} syscalls from ${ks.source}` };
  }
  if (list?.type === "generated_ftrace") {
    const what = `generated_ftrace list '${list.name}' (pattern ${JSON.stringify(list.pattern)})`;
    if (env.facts.ftrace === undefined) {
      return { error: `${what}: available_filter_functions was not read, so it is not expanded` };
    }
    const unsafe = unsafePatternReason(list.pattern ?? "");
    if (unsafe !== undefined) return { error: `${what}: ${unsafe}` };
    let re: RegExp;
    try {
      re = new RegExp(list.pattern ?? "");
    } catch (err) {
      return { error: `${what}: ${err instanceof Error ? err.message : String(err)}` };
    }
    const found = env.facts.ftrace(re);
    if (found.error !== undefined) return { error: `${what} cannot be expanded: ${found.error}` };
    if (found.functions.length === 0) {
      return { error: `${what} matches no function of this kernel's available_filter_functions` };
    }
    return {
      targets: found.functions.map((written) => ({ written })),
      note: `${what}: ${found.functions.length} functions`,
    };
  }
  return undefined;
}
