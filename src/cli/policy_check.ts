/**
 * `vigil policy check FILE... [--json]`: validates TracingPolicy files offline and prints the plan
 * each would get on this kernel. Nothing is loaded into or attached to the kernel beyond the
 * feature probe's own test programs.
 *
 * @module
 */
import { KernelBtf } from "../bpf/btf.ts";
import { openBpfRuntime } from "../bpf/runtime.ts";
import { policySetBytes, type SetEntryCounts } from "../bpf/sizing.ts";
import { probeBlocker, probeKernel } from "../kernel/mod.ts";
import { TRACEFS, withPseudoFs } from "../kernel/mounts.ts";
import type { KernelReport } from "../kernel/types.ts";
import { createLogger } from "../log/logger.ts";
import {
  CompileError,
  compileHook,
  formatIssue,
  formatPlan,
  ftraceLookup,
  parsePolicyLazily,
  type ParseResult,
  planFactsFrom,
  planJsonReplacer,
  planPolicy,
  type Policy,
  POLICY_INPUT_LIMITS,
  type PolicyPlan,
  readHostNamespaces,
  readKernelSyscalls,
  tracefsFormatLookup,
  type TracepointFormatLookup,
} from "../policy/mod.ts";
import { type Command, parseFlags, printErr, printOut, UsageError } from "./command.ts";

const VERB = "policy check";

const USAGE = `Usage: vigil policy check FILE... [--json] [--host-libbpf]

Validates TracingPolicy files offline and prints the plan each gets on THIS kernel: every hook,
the mechanism chosen and why (fentry or kprobe where the kernel allows, else the syscall's own
tracepoint; raw_syscalls hooks split per syscall when their selectors allow), the cost class of
each hook, the map entries its selectors need, and warnings such as a hook that runs on every
syscall. Nothing is attached. Probing the kernel needs root; tracefs is mounted for the
tracepoint formats when absent, and unmounted after.

Options:
  --json         print one JSON document: {"status", "kernel", "files": [{"file", "valid",
                 "runnable", "reason"?, "errors", "warnings", "plan"?}]}
  --host-libbpf  use the host's libbpf.so.1 instead of the embedded copy (also VIGIL_LIBBPF=host)
  -h, --help     show this help

Exit status: 0 every file is valid and runnable here; 1 a file is invalid (errors as
file:line:column); 3 every file is valid but one cannot run on this kernel (with the reason);
2 usage error.`;

/** The verdict on one file. */
interface FileVerdict {
  readonly file: string;
  readonly parsed: ParseResult;
  readonly plan?: PolicyPlan;
  /** Kernel memory the policy's set entries would add (estimate). */
  readonly kernelMemory?: { readonly set_entries: SetEntryCounts; readonly bytes: number };
  /** Set when the file is valid but cannot run here. */
  readonly reason?: string;
}

/** What the kernel offers, or why that could not be found out. */
type KernelFacts =
  | { readonly report: KernelReport; readonly plans: ReadonlyMap<Policy, PolicyPlan> }
  | { readonly error: string };

/** One file's verdict, whatever the file holds: it never stops the check of the others. */
async function readAndParse(file: string): Promise<ParseResult> {
  const fail = (message: string): ParseResult => ({
    errors: [{ file, line: 1, column: 1, path: "", message }],
    warnings: [],
  });
  let text: string;
  try {
    const size = Deno.statSync(file).size;
    if (size > POLICY_INPUT_LIMITS.maxBytes) {
      return fail(`the file is ${size} bytes; vigil's limit is ${POLICY_INPUT_LIMITS.maxBytes}`);
    }
    text = Deno.readTextFileSync(file);
  } catch (err) {
    return fail(`cannot read the file: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return await parsePolicyLazily(text, file);
  } catch (err) {
    return fail(`cannot parse: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Plans every policy on the live kernel: probe, then tracefs formats (mounted if needed). */
function planOnThisKernel(policies: readonly Policy[], useHostLibbpf: boolean): KernelFacts {
  const blocker = probeBlocker();
  if (blocker !== null) return { error: `cannot probe this kernel: ${blocker}` };
  try {
    using rt = openBpfRuntime({ useHostLibbpf, logger: createLogger({ level: "error" }) });
    const report = probeKernel(rt);
    using btf = new KernelBtf(rt);
    const hostNamespaces = readHostNamespaces();
    return withPseudoFs(rt.libc, TRACEFS, (mount) => {
      const live = tracefsFormatLookup({ root: TRACEFS.target });
      const lookup: TracepointFormatLookup = mount.state === "failed"
        ? () => ({ error: `tracefs is not available: ${mount.error ?? "mount failed"}` })
        : live;
      const facts = planFactsFrom(report, {
        tracepointFormat: lookup,
        hostNamespaces,
        functionInBtf: (name) => btf.functionArgCount(name) !== undefined,
        kernelSyscalls: readKernelSyscalls(TRACEFS.target),
        ftrace: ftraceLookup(TRACEFS.target),
      });
      const plans = new Map(policies.map((p) => [p, planPolicy(p, facts)]));
      return { report, plans };
    });
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    return { error: `cannot probe this kernel: ${message}` };
  }
}

/**
 * Encodes every runnable hook once, so a plan the compiler cannot encode is caught here; counts
 * the set entries it would add to the kernel (for the memory estimate).
 */
function dryCompile(plan: PolicyPlan): { problem?: string; sets: SetEntryCounts } {
  let setId = 1;
  const sets = { str: 0, lpm: 0, int: 0 };
  for (const [i, h] of plan.hooks.entries()) {
    if (!h.runnable) continue;
    try {
      const c = compileHook(h, { hookId: i, allocSetId: () => setId++ });
      sets.str += c.strSet.length;
      sets.lpm += c.lpmSet.length;
      sets.int += c.intSet.length;
    } catch (err) {
      if (err instanceof CompileError) return { problem: err.message, sets };
      throw err;
    }
  }
  return { sets };
}

async function verdicts(files: readonly string[], useHostLibbpf: boolean): Promise<{
  verdicts: FileVerdict[];
  kernel: KernelFacts | null;
}> {
  const parsed: { file: string; parsed: ParseResult }[] = [];
  for (const file of files) parsed.push({ file, parsed: await readAndParse(file) });
  const policies = parsed.flatMap((p) => p.parsed.policy ?? []);
  const kernel = policies.length === 0 ? null : planOnThisKernel(policies, useHostLibbpf);
  const out = parsed.map(({ file, parsed }): FileVerdict => {
    const policy = parsed.policy;
    if (policy === undefined || kernel === null) return { file, parsed };
    if ("error" in kernel) return { file, parsed, reason: kernel.error };
    const plan = kernel.plans.get(policy);
    if (plan === undefined) return { file, parsed };
    const compiled = plan.runnable ? dryCompile(plan) : undefined;
    const compileProblem = compiled?.problem;
    const reason = plan.reason ??
      (compileProblem === undefined ? undefined : `cannot encode the plan: ${compileProblem}`);
    const kernelMemory = compiled === undefined ? undefined : {
      set_entries: compiled.sets,
      bytes: policySetBytes(compiled.sets),
    };
    return {
      file,
      parsed,
      plan,
      ...(reason === undefined ? {} : { reason }),
      ...(kernelMemory === undefined ? {} : { kernelMemory }),
    };
  });
  return { verdicts: out, kernel };
}

function status(all: readonly FileVerdict[]): 0 | 1 | 3 {
  if (all.some((v) => v.parsed.policy === undefined)) return 1;
  return all.some((v) => v.reason !== undefined) ? 3 : 0;
}

function textReport(all: readonly FileVerdict[]): string {
  const blocks = all.map((v) => {
    const lines: string[] = [];
    if (v.parsed.policy === undefined) {
      lines.push(`${v.file}: invalid (${v.parsed.errors.length} error(s))`);
      for (const e of v.parsed.errors) lines.push(`  ${formatIssue(e, "error")}`);
      for (const w of v.parsed.warnings) lines.push(`  ${formatIssue(w, "warning")}`);
      return lines.join("\n");
    }
    for (const w of v.parsed.warnings) lines.push(`  ${formatIssue(w, "warning")}`);
    if (v.plan === undefined) {
      lines.unshift(`${v.file}: valid, NOT checked against this kernel: ${v.reason ?? "unknown"}`);
      return lines.join("\n");
    }
    lines.unshift(formatPlan(v.plan));
    if (v.kernelMemory !== undefined) {
      const n = v.kernelMemory.set_entries;
      lines.push(
        `  kernel memory: ~${(v.kernelMemory.bytes / 1024).toFixed(1)} KiB for ` +
          `${n.str + n.lpm + n.int} set entries (plus the policy engine's shared maps, paid once)`,
      );
    }
    if (v.plan.runnable && v.reason !== undefined) lines.push(`  error: ${v.reason}`);
    return lines.join("\n");
  });
  return blocks.join("\n\n");
}

function jsonReport(all: readonly FileVerdict[], kernel: KernelFacts | null, code: number): string {
  const kernelJson = kernel === null
    ? null
    : "error" in kernel
    ? { error: kernel.error }
    : { release: kernel.report.kernelRelease, features: kernel.report.features };
  return JSON.stringify(
    {
      status: code,
      kernel: kernelJson,
      files: all.map((v) => ({
        file: v.file,
        valid: v.parsed.policy !== undefined,
        runnable: v.parsed.policy !== undefined && v.reason === undefined,
        ...(v.reason === undefined ? {} : { reason: v.reason }),
        errors: v.parsed.errors.map((e) => formatIssue(e)),
        warnings: v.parsed.warnings.map((w) => formatIssue(w)),
        ...(v.plan === undefined ? {} : { plan: v.plan }),
        ...(v.kernelMemory === undefined ? {} : { kernel_memory: v.kernelMemory }),
      })),
    },
    planJsonReplacer,
  );
}

/** The `policy check` verb. */
export const policyCheckCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(VERB, argv, {
      json: { type: "boolean" },
      "host-libbpf": { type: "boolean" },
    }, true);
    if (values.help) {
      printOut(USAGE);
      return 0;
    }
    if (positionals.length === 0) {
      throw new UsageError(
        `vigil ${VERB}: give at least one policy file (see 'vigil ${VERB} --help')`,
      );
    }
    const useHostLibbpf = values["host-libbpf"] === true || Deno.env.get("VIGIL_LIBBPF") === "host";
    const { verdicts: all, kernel } = await verdicts(positionals, useHostLibbpf);
    const code = status(all);
    printOut(values.json ? jsonReport(all, kernel, code) : textReport(all));
    if (!values.json && kernel !== null && "error" in kernel) {
      printErr(`vigil ${VERB}: ${kernel.error}`);
    }
    return code;
  },
};
