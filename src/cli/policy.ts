/**
 * `vigil policy list|add|delete|reload`: manage the policies of a running agent through its API.
 * Each sub-verb is its own command, so other `policy` sub-verbs (the offline `policy check`) sit
 * beside them in the verb table; `vigil policy` alone prints the overview.
 *
 * @module
 */
import type { PolicyError, PolicyStatus } from "../api/types.ts";
import { API_FLAGS, API_FLAGS_USAGE, ApiClient, formatTable } from "./api_client.ts";
import { type Command, parseFlags, printErr, printOut, UsageError } from "./command.ts";

const OVERVIEW = `Usage: vigil policy <sub-verb> [options]

Sub-verbs (each takes --help):
  list           list the running agent's policies, their state and counters
  add FILE       add a policy, or replace the one with the same metadata.name
  delete NAME    remove a policy
  reload         re-read the agent's policy directory
  check FILE...  validate policy files offline (no agent needed)
  explain NAME   where a policy's calls stopped (why no event), stage by stage
  plan FILE...   preflight: the plan here, and with --shadow 10s the cost on the live host`;

function policyRows(policies: readonly PolicyStatus[]): string {
  const rows = policies.map((p) => {
    const attached = p.hooks.filter((h) => h.attached).length;
    const mechanisms = [...new Set(p.hooks.map((h) => h.mechanism))].join(",");
    const c = p.counters;
    return [
      p.name,
      p.state,
      p.mode ?? "",
      `${attached}/${p.hooks.length}${mechanisms ? ` ${mechanisms}` : ""}`,
      String(c.seen),
      String(c.posted),
      String(c.filtered),
      String(c.rateLimited),
      String(c.signals),
      budgetCell(p),
      p.reason ?? "",
    ];
  });
  return formatTable(
    [
      "NAME",
      "STATE",
      "MODE",
      "HOOKS",
      "SEEN",
      "POSTED",
      "FILTERED",
      "RATELIMITED",
      "SIGNALS",
      "CPU/BUDGET",
      "REASON",
    ],
    rows,
  );
}

/** `1.2%/10% ok`: CPU used over the guard's last window, the budget, the guard's step. */
export function budgetCell(p: PolicyStatus): string {
  const b = p.budget;
  if (b === undefined) return "-";
  const pct = (v: number) => `${Number((v * 100).toPrecision(3))}%`;
  return `${pct(b.cpuUsed)}/${pct(b.cpuBudget)} ${b.state}`;
}

function usageOf(verb: string, args: string, text: string): string {
  return `Usage: vigil policy ${verb}${args ? ` ${args}` : ""} [options]

${text}

Options:
${API_FLAGS_USAGE}
  -h, --help                show this help`;
}

function formatPolicyError(file: string, e: PolicyError): string {
  const at = e.line === undefined
    ? file
    : `${file}:${e.line}${e.column === undefined ? "" : `:${e.column}`}`;
  return `${at}: ${e.message}${e.path ? ` (at ${e.path})` : ""}`;
}

const LIST_USAGE = usageOf(
  "list",
  "",
  "Lists the running agent's policies: state (enabled, error, loading, throttled), mode, hooks\n" +
    "attached and their mechanisms, event counters, and CPU/BUDGET: the CPU the policy used over\n" +
    "the budget guard's last window and its budget (shares of one CPU), with the guard's step\n" +
    "(ok, bucketed, throttled, over_budget). --json prints the API's JSON.",
).replace("Options:\n", "Options:\n  --json                    print the policies as JSON\n");

/** `vigil policy list`. */
export const policyListCommand: Command = {
  usage: LIST_USAGE,
  async run(argv) {
    const { values } = parseFlags("policy list", argv, { ...API_FLAGS, json: { type: "boolean" } });
    if (values.help) {
      printOut(LIST_USAGE);
      return 0;
    }
    using client = ApiClient.fromFlags(values);
    const { body } = await client.json<{ policies: PolicyStatus[] }>("GET", "/policies");
    if (values.json) printOut(JSON.stringify(body.policies));
    else if (body.policies.length === 0) printOut("no policies");
    else printOut(policyRows(body.policies));
    return 0;
  },
};

const ADD_USAGE = usageOf(
  "add",
  "FILE",
  "Sends a TracingPolicy (YAML; - reads stdin) to the running agent. A policy with the same\n" +
    "metadata.name is replaced atomically: the new version is attached before the old one is\n" +
    "detached, and if the new version fails the old one keeps running. Errors are printed as\n" +
    "FILE:LINE:COLUMN: message, and the exit status is then 1.",
);

/** `vigil policy add FILE`. */
export const policyAddCommand: Command = {
  usage: ADD_USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags("policy add", argv, API_FLAGS, true);
    if (values.help) {
      printOut(ADD_USAGE);
      return 0;
    }
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) {
      throw new UsageError(
        "vigil policy add: expected exactly one FILE (see 'vigil policy add --help')",
      );
    }
    let yaml: string;
    try {
      yaml = file === "-"
        ? await new Response(Deno.stdin.readable).text()
        : await Deno.readTextFile(file);
    } catch (err) {
      throw new Error(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    using client = ApiClient.fromFlags(values);
    const { status, body } = await client.json<
      { policy: PolicyStatus; replaced: boolean } | { error: string; errors?: PolicyError[] }
    >("POST", "/policies", {
      body: yaml,
      contentType: "application/yaml",
      auth: true,
      accept: [400],
    });
    if (status === 400 && "error" in body) {
      const errors = body.errors ?? [];
      if (errors.length === 0) printErr(`${file}: ${body.error}`);
      for (const e of errors) printErr(formatPolicyError(file === "-" ? "<stdin>" : file, e));
      return 1;
    }
    if (!("policy" in body)) throw new Error("unexpected answer from the agent");
    const p = body.policy;
    printOut(
      `policy ${p.name} ${body.replaced ? "replaced" : "added"}: ${p.state}` +
        (p.reason ? ` (${p.reason})` : ""),
    );
    for (const h of p.hooks) {
      printOut(
        `  ${h.hook}  ${h.mechanism}  cost ${h.cost}${h.attached ? "" : "  (not attached)"}`,
      );
    }
    return p.state === "error" ? 1 : 0;
  },
};

const DELETE_USAGE = usageOf(
  "delete",
  "NAME",
  "Detaches and removes a policy from the running agent.",
);

/** `vigil policy delete NAME`. */
export const policyDeleteCommand: Command = {
  usage: DELETE_USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags("policy delete", argv, API_FLAGS, true);
    if (values.help) {
      printOut(DELETE_USAGE);
      return 0;
    }
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0) {
      throw new UsageError(
        "vigil policy delete: expected exactly one NAME (see 'vigil policy delete --help')",
      );
    }
    using client = ApiClient.fromFlags(values);
    await client.json("DELETE", `/policies/${encodeURIComponent(name)}`, { auth: true });
    printOut(`policy ${name} deleted`);
    return 0;
  },
};

const RELOAD_USAGE = usageOf(
  "reload",
  "",
  "Makes the running agent re-read its policy directory (as SIGHUP does). Files that fail are\n" +
    "listed and their previous versions keep running; the exit status is then 1.",
);

/** `vigil policy reload`. */
export const policyReloadCommand: Command = {
  usage: RELOAD_USAGE,
  async run(argv) {
    const { values } = parseFlags("policy reload", argv, API_FLAGS);
    if (values.help) {
      printOut(RELOAD_USAGE);
      return 0;
    }
    using client = ApiClient.fromFlags(values);
    const { status, body } = await client.json<{
      error?: string;
      policies: PolicyStatus[];
      errors: { file: string; message: string }[];
    }>("POST", "/policies/reload", { auth: true, accept: [400] });
    for (const e of body.errors ?? []) printErr(`${e.file}: ${e.message}`);
    if (body.policies.length > 0) printOut(policyRows(body.policies));
    printOut(
      `reloaded: ${body.policies.length} polic${body.policies.length === 1 ? "y" : "ies"}` +
        (status === 400 ? `, ${body.errors.length} failed` : ""),
    );
    return status === 400 ? 1 : 0;
  },
};

/** `vigil policy` alone (or an unknown sub-verb): the overview. */
export const policyCommand: Command = {
  usage: OVERVIEW,
  run(argv) {
    const first = argv[0];
    if (first === undefined || first === "--help" || first === "-h" || first === "help") {
      printOut(OVERVIEW);
      return Promise.resolve(first === undefined ? 2 : 0);
    }
    throw new UsageError(`vigil policy: unknown sub-verb '${first}' (see 'vigil policy --help')`);
  },
};
