/**
 * Human-readable and JSON renderings of a {@link PolicyPlan}, as `vigil policy check` prints
 * them.
 *
 * @module
 */

import { STRUCTS } from "../../bpf/abi.gen.ts";
import { formatIssue } from "../spec/mod.ts";
import type { PlannedArg, PlannedHook, PolicyPlan } from "./types.ts";

function attachText(h: PlannedHook): string {
  const a = h.attach;
  if (a === null) return "none";
  switch (a.kind) {
    case "tracepoint":
      return `tracepoint ${a.subsystem}/${a.event}`;
    case "raw_tracepoint":
      return `raw tracepoint ${a.event}`;
    case "lsm":
      return `lsm ${a.hook}`;
    case "uprobe":
      return `uprobe ${a.path}:${a.symbol}`;
    default:
      return `${a.kind} ${a.function}`;
  }
}

function argText(a: PlannedArg): string {
  const name = a.role === "return" ? "return" : a.label ?? a.field ?? "?";
  const where = a.field === undefined ? `ctx+${a.ctxOffset}` : `${a.field}@${a.ctxOffset}`;
  return `${name}: ${a.type} (${
    a.kind.replace("VIGIL_ARG_", "").toLowerCase()
  }, ${where}/${a.size})`;
}

function selectorsText(h: PlannedHook): string {
  if (h.selectors.length === 0) return "none (every call is posted)";
  const parts = h.selectors.map((s) => {
    const bits: string[] = [];
    if (s.argFilters.length > 0) {
      bits.push(
        s.argFilters.map((f) =>
          `args[${f.arg}] ${f.op.replace("VIGIL_MATCH_", "").toLowerCase()}${
            f.set === undefined ? ` ×${f.nvalues}` : ` set(${f.set.values.length})`
          }`
        ).join(" and "),
      );
    }
    for (
      const [what, b] of [["binary", s.binaries], ["parent binary", s.parentBinaries]] as const
    ) {
      if (b === undefined) continue;
      bits.push(
        `${what} ${b.op.replace("VIGIL_SET_", "").toLowerCase()} set(${b.set.values.length})${
          b.follow ? " or an ancestor's" : ""
        }`,
      );
    }
    for (const p of s.pids) {
      bits.push(
        `pid ${p.op.replace("VIGIL_SET_", "").toLowerCase()}${p.follow ? " (with ancestors)" : ""}`,
      );
    }
    if (s.namespaces.length > 0) bits.push(`${s.namespaces.length} namespace filter(s)`);
    if (s.capabilities.length > 0) bits.push(`${s.capabilities.length} capability filter(s)`);
    const actions = s.actions.map((a) =>
      a.kind.replace("VIGIL_ACT_", "").toLowerCase() +
      (a.rateLimitNs > 0n
        ? ` (rate limit ${a.rateLimitNs / 1_000_000n} ms per ${
          a.scope.replace("VIGIL_RATE_", "").toLowerCase()
        })`
        : "")
    );
    return `#${s.index}: ${bits.length === 0 ? "always" : bits.join(", ")} → ${actions.join(", ")}`;
  });
  return parts.join("; ");
}

/**
 * The plan as indented text: one block per hook (mechanism, why, cost, args, selectors), the map
 * entries, the mechanisms this kernel refused (with the probe's reasons, once), warnings and
 * errors as `file:line:column` lines.
 */
export function formatPlan(plan: PolicyPlan): string {
  const lines: string[] = [];
  const verdict = plan.runnable
    ? "valid, runnable on this kernel"
    : `valid, NOT runnable on this kernel: ${plan.reason}`;
  lines.push(`${plan.file}: policy ${JSON.stringify(plan.policyName)} (${plan.mode}): ${verdict}`);
  for (const h of plan.hooks) {
    lines.push(`  hook ${h.name}${h.runnable ? "" : "  [cannot run here]"}`);
    lines.push(`    mechanism  ${h.mechanism ?? "none"} → ${attachText(h)}`);
    lines.push(`    why        ${h.why}`);
    lines.push(`    cost       ${h.cost.class}: ${h.cost.note}`);
    if (h.args.length > 0) lines.push(`    args       ${h.args.map(argText).join(", ")}`);
    if (h.mechanism !== null) lines.push(`    selectors  ${selectorsText(h)}`);
  }
  const runnable = plan.hooks.filter((h) => h.runnable).length;
  lines.push(
    `  maps       ${runnable} hook entr${
      runnable === 1 ? "y" : "ies"
    } of ${STRUCTS.vigil_hook.size} ` +
      `bytes; ${plan.sets.sets} set(s): ${plan.sets.str} string, ${plan.sets.lpm} prefix/postfix, ` +
      `${plan.sets.int} integer entries`,
  );
  const refused = new Map<string, string>();
  for (const h of plan.hooks) {
    for (const o of h.options) {
      if (
        !o.usable &&
        (h.mechanism === null || h.options.indexOf(o) < h.options.findIndex((x) => x.usable))
      ) {
        refused.set(o.mechanism, o.reason);
      }
    }
  }
  if (refused.size > 0) {
    lines.push("  not usable here:");
    for (const [m, reason] of refused) lines.push(`    ${m}: ${reason}`);
  }
  for (const w of plan.warnings) lines.push(`  ${formatIssue(w, "warning")}`);
  for (const e of plan.errors) lines.push(`  ${formatIssue(e, "error")}`);
  return lines.join("\n");
}

/** `JSON.stringify` replacer for plans: bigints as decimal strings. */
export function planJsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
