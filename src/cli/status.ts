/**
 * `vigil status`: asks a running agent for its readiness, status and policies.
 *
 * @module
 */
import type { PolicyStatus } from "../api/types.ts";
import { bigintReplacer } from "../log/logger.ts";
import { API_FLAGS, API_FLAGS_USAGE, ApiClient } from "./api_client.ts";
import { type Command, parseFlags, printOut } from "./command.ts";

const USAGE = `Usage: vigil status [options]

Shows whether the running agent is ready, its status (version, kernel features, cgroup decision,
attached programs) and its policies. Exit status 0 when ready, 1 when not ready or unreachable.

Options:
  --json                    print one JSON object {ready, reason?, status, policies}
${API_FLAGS_USAGE}
  -h, --help                show this help`;

function policySummary(policies: readonly PolicyStatus[]): string {
  if (policies.length === 0) return "policies: none";
  const byState = new Map<string, number>();
  for (const p of policies) byState.set(p.state, (byState.get(p.state) ?? 0) + 1);
  const parts = [...byState].map(([state, n]) => `${n} ${state}`);
  const lines = [`policies: ${policies.length} (${parts.join(", ")})`];
  for (const p of policies) {
    lines.push(`  ${p.name}: ${p.state}${p.reason ? ` (${p.reason})` : ""}`);
  }
  return lines.join("\n");
}

/** The `status` verb. */
export const statusCommand: Command = {
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags("status", argv, { ...API_FLAGS, json: { type: "boolean" } });
    if (values.help) {
      printOut(USAGE);
      return 0;
    }
    using client = ApiClient.fromFlags(values);
    const ready = await client.json<{ ready: boolean; reason?: string }>("GET", "/readyz", {
      accept: [503],
    });
    const status = await client.json<Record<string, unknown>>("GET", "/status");
    const policies = await client.json<{ policies: PolicyStatus[] }>("GET", "/policies");
    const isReady = ready.body.ready === true;
    if (values.json) {
      printOut(JSON.stringify({
        ready: isReady,
        ...(ready.body.reason ? { reason: ready.body.reason } : {}),
        status: status.body,
        policies: policies.body.policies,
      }));
    } else {
      const head = isReady
        ? `vigil at ${client.address}: ready`
        : `vigil at ${client.address}: NOT READY (${ready.body.reason ?? "starting"})`;
      const plain = JSON.parse(JSON.stringify(status.body, bigintReplacer));
      // Loaded here only: the YAML library costs the agent ~10 MiB of RSS (verbs share a graph).
      const { stringify } = await import("yaml");
      printOut(
        [head, "", stringify(plain).trimEnd(), "", policySummary(policies.body.policies)].join(
          "\n",
        ),
      );
    }
    return isReady ? 0 : 1;
  },
};
