/**
 * The table of CLI verbs. `main.ts` dispatches on it; each verb lives in its own file.
 *
 * @module
 */
import { cgroupResolveCommand } from "./cgroup_resolve.ts";
import { CLIENT_COMMANDS } from "./client_verbs.ts";
import type { Command } from "./command.ts";
import { policyCheckCommand } from "./policy_check.ts";
import { policyExplainCommand } from "./policy_explain.ts";
import { policyPlanCommand } from "./policy_plan.ts";
import { probeCommand } from "./probe.ts";
import { runCommand } from "./run.ts";
import { versionCommand } from "./version.ts";

/** Every verb, in the order the top-level help lists them. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  ...CLIENT_COMMANDS,
  probeCommand,
  policyCheckCommand,
  policyExplainCommand,
  policyPlanCommand,
  cgroupResolveCommand,
  versionCommand,
];
