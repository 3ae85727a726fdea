/**
 * Shared inputs of the planner and compiler tests: the kernel facts captured on the development
 * machine (no kprobes, fentry or LSM), a hypothetical kernel where everything works, captured
 * tracepoint formats, and policy parsing shortcuts.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { FeatureName } from "../../src/kernel/types.ts";
import { FEATURE_NAMES } from "../../src/kernel/types.ts";
import { parsePolicy } from "../../src/policy/spec/parse.ts";
import { planPolicy } from "../../src/policy/plan/mod.ts";
import type {
  EngineMechanism,
  FeatureFact,
  PlanFacts,
  PlannedHook,
  PolicyPlan,
} from "../../src/policy/plan/mod.ts";
import { tracefsFormatLookup } from "../../src/policy/plan/mod.ts";
import type { Policy } from "../../src/policy/spec/mod.ts";
import { ENVELOPE, lines } from "./_helpers.ts";

const FIXTURES = new URL("../fixtures/policy/", import.meta.url);

/** Captured tracefs formats (tests/fixtures/policy/tracefs). */
export const TRACEFS_FIXTURES = new URL("tracefs/", FIXTURES).pathname;

/** `features` of `vigil probe --json` on the development machine. */
export const THIS_KERNEL: Readonly<Record<FeatureName, FeatureFact>> = JSON.parse(
  Deno.readTextFileSync(new URL("kernel_features_this_machine.json", FIXTURES)),
).features;

/**
 * `features` of `vigil probe --json` on Debian's 5.10 in the kernel lab: kprobe, fentry and the
 * BPF LSM work, bpf_loop (5.17) is refused.
 */
export const DEBIAN_5_10: Readonly<Record<FeatureName, FeatureFact>> = JSON.parse(
  Deno.readTextFileSync(new URL("kernel_features_debian_5.10.json", FIXTURES)),
).features;

/** A kernel where every mechanism and helper works. */
export const EVERYTHING_KERNEL: Readonly<Record<FeatureName, FeatureFact>> = Object.fromEntries(
  FEATURE_NAMES.map((n) => [n, { supported: true, reason: `${n} works (hypothetical kernel)` }]),
) as Record<FeatureName, FeatureFact>;

/** Every program type an engine could have. */
export const FULL_ENGINE: readonly EngineMechanism[] = [
  "tracepoint",
  "raw_tp",
  "kprobe",
  "fentry",
  "lsm",
];

/** Host namespace inodes used by the tests. */
export const HOST_NS = { Mnt: 4026531841, Pid: 4026531836, Net: 4026531840 } as const;

/** Plan facts on captured formats; `features` default to this machine's. */
export function facts(
  options: {
    features?: Readonly<Partial<Record<FeatureName, FeatureFact>>>;
    engine?: readonly EngineMechanism[];
  } = {},
): PlanFacts {
  return {
    features: options.features ?? THIS_KERNEL,
    tracepointFormat: tracefsFormatLookup({ root: TRACEFS_FIXTURES }),
    ...(options.engine === undefined ? {} : { engine: options.engine }),
    hostNamespaces: HOST_NS,
  };
}

/** Parses a policy text (must be valid). */
export function policyOf(text: string, file = "test.yaml"): Policy {
  const r = parsePolicy(text, file);
  assert.deepEqual(r.errors, [], `policy errors: ${JSON.stringify(r.errors)}`);
  assert.ok(r.policy);
  return r.policy;
}

/** Parses a file of the repository (path relative to its root). */
export function policyFile(path: string): Policy {
  const url = new URL(`../../${path}`, import.meta.url);
  return policyOf(Deno.readTextFileSync(url), path);
}

/** A policy whose `spec:` body is `specLines`, planned on `f` (default: this machine). */
export function planSpec(specLines: readonly string[], f: PlanFacts = facts()): PolicyPlan {
  return planPolicy(policyOf(lines(...ENVELOPE, ...specLines)), f);
}

/** The only hook of a plan. */
export function onlyHook(plan: PolicyPlan): PlannedHook {
  assert.equal(plan.hooks.length, 1, plan.hooks.map((h) => h.name).join(", "));
  const [hook] = plan.hooks;
  assert.ok(hook);
  return hook;
}

/** The messages of a plan's errors. */
export function errorMessages(plan: PolicyPlan): string[] {
  return plan.errors.map((e) => `${e.path}: ${e.message}`);
}
