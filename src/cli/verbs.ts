/**
 * The table of CLI verbs. `main.ts` dispatches on it; each verb lives in its own module, imported
 * only when that verb runs: `vigil run` then holds none of the other verbs' imports (the YAML
 * library alone is ~10 MiB of RSS), and `vigil version` starts without the agent's.
 *
 * @module
 */
import type { Command } from "./command.ts";

/** One CLI verb (or a verb with a sub-verb, such as `cgroup resolve`). */
export interface Verb {
  /** Words that select it, e.g. `["cgroup", "resolve"]`. */
  readonly path: readonly string[];
  /** One line for the top-level help. */
  readonly summary: string;
  /** Imports the verb's module. */
  load(): Promise<Command>;
}

/** Every verb, in the order the top-level help lists them. */
export const VERBS: readonly Verb[] = [
  {
    path: ["run"],
    summary: "run the agent in the foreground",
    load: async () => (await import("./run.ts")).runCommand,
  },
  {
    path: ["status"],
    summary: "show the running agent's readiness, status and policies",
    load: async () => (await import("./status.ts")).statusCommand,
  },
  {
    path: ["policy", "list"],
    summary: "list the running agent's policies",
    load: async () => (await import("./policy.ts")).policyListCommand,
  },
  {
    path: ["policy", "add"],
    summary: "add or replace a policy in the running agent",
    load: async () => (await import("./policy.ts")).policyAddCommand,
  },
  {
    path: ["policy", "delete"],
    summary: "remove a policy from the running agent",
    load: async () => (await import("./policy.ts")).policyDeleteCommand,
  },
  {
    path: ["policy", "reload"],
    summary: "make the running agent re-read its policy directory",
    load: async () => (await import("./policy.ts")).policyReloadCommand,
  },
  {
    path: ["policy"],
    summary: "manage the running agent's policies (list, add, delete, reload)",
    load: async () => (await import("./policy.ts")).policyCommand,
  },
  {
    path: ["events"],
    summary: "follow the running agent's events (--compact for one readable line each)",
    load: async () => (await import("./events.ts")).eventsCommand,
  },
  {
    path: ["top"],
    summary: "per-program CPU share of the agent's BPF programs, refreshed every second",
    load: async () => (await import("./top.ts")).topCommand,
  },
  {
    path: ["probe"],
    summary: "report which BPF mechanisms this kernel supports, and why not",
    load: async () => (await import("./probe.ts")).probeCommand,
  },
  {
    path: ["policy", "check"],
    summary: "validate policy files and show their plan on this kernel (exit 0/1/3)",
    load: async () => (await import("./policy_check.ts")).policyCheckCommand,
  },
  {
    path: ["policy", "explain"],
    summary: "show where a running policy's calls stopped (why no event)",
    load: async () => (await import("./policy_explain.ts")).policyExplainCommand,
  },
  {
    path: ["policy", "plan"],
    summary: "preflight: plan on this kernel, and with --shadow the measured cost on the live host",
    load: async () => (await import("./policy_plan.ts")).policyPlanCommand,
  },
  {
    path: ["cgroup", "resolve"],
    summary: "explain which cgroup hierarchy and container vigil sees",
    load: async () => (await import("./cgroup_resolve.ts")).cgroupResolveCommand,
  },
  {
    path: ["version"],
    summary: "print the version",
    load: async () => (await import("./version.ts")).versionCommand,
  },
];
