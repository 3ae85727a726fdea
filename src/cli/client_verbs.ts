/**
 * The verbs that talk to a running agent through its HTTP API, in help order.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { eventsCommand } from "./events.ts";
import { POLICY_COMMANDS } from "./policy.ts";
import { statusCommand } from "./status.ts";
import { topCommand } from "./top.ts";

/** `status`, `policy list|add|delete|reload` (+ the `policy` overview), `events`, `top`. */
export const CLIENT_COMMANDS: readonly Command[] = [
  statusCommand,
  ...POLICY_COMMANDS,
  eventsCommand,
  topCommand,
];
