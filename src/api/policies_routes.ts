/**
 * Policy routes (mounted at `/policies`): list, show (YAML), add or replace, delete, reload,
 * the shadow preflight (`?dryRun=shadow`) and per-policy stage counters (`/NAME/stats`).
 * Authentication and body limits are applied by the parent app to every mutating request.
 *
 * @module
 */
import { Hono } from "hono";
import { SHADOW_SECONDS } from "../policy/runtime/shadow.ts";
import { boundErrors, changeFailure, cut } from "./_bounded.ts";
import { errorResponse, jsonResponse } from "./_json.ts";
import type { PolicyError, PolicyService } from "./types.ts";

/** Where the API says a submitted policy came from, in messages. */
export const API_POLICY_SOURCE = "api";

function rejected(errors: readonly PolicyError[]): string {
  const first = errors[0];
  if (first === undefined) return "policy rejected";
  const where = first.line === undefined ? "" : ` (line ${first.line}` +
    (first.column === undefined ? ")" : `, column ${first.column})`);
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
  return `policy rejected: ${cut(first.message)}${where}${more}`;
}

/** The errors of an answer, bounded: `{ errors, more? }`. */
function errorList<T extends object>(errors: readonly T[]): { errors: T[]; more?: number } {
  const bounded = boundErrors(errors);
  return bounded.more === 0 ? { errors: bounded.errors } : bounded;
}

/** Runs a policy change; a change the agent refused (queue full) or could not make answers so. */
async function change(run: () => Promise<Response>): Promise<Response> {
  try {
    return await run();
  } catch (err) {
    const failure = changeFailure(err);
    if (failure === undefined) throw err;
    return errorResponse(
      failure.status,
      failure.message,
      {},
      failure.status === 503 ? { "retry-after": "1" } : {},
    );
  }
}

/**
 * The `/policies` sub-app.
 *
 * @example
 * ```ts
 * app.route("/policies", policiesRoutes(policyService));
 * ```
 */
export function policiesRoutes(policies: PolicyService): Hono {
  const app = new Hono();

  app.get("/", () => jsonResponse({ policies: policies.list() }));

  app.post("/", (c) =>
    change(async () => {
      const yaml = await c.req.text();
      if (yaml.trim() === "") {
        return errorResponse(400, "empty request body: send one TracingPolicy as YAML", {
          errors: [{ message: "empty request body" }],
        });
      }
      const dryRun = c.req.query("dryRun");
      if (dryRun !== undefined) return await shadowRun(c.req.query("seconds"), dryRun, yaml);
      const result = await policies.apply(yaml, API_POLICY_SOURCE);
      if (!result.ok) {
        const status = result.status ?? 400;
        const message = status === 400 ? rejected(result.errors) : cut(
          result.errors[0]?.message ?? "policy not applied",
        );
        return errorResponse(status, message, errorList(result.errors));
      }
      return jsonResponse({ policy: result.policy, replaced: result.replaced });
    }));

  /** `POST /policies?dryRun=shadow[&seconds=N]`: the preflight; nothing is kept. */
  async function shadowRun(
    secondsText: string | undefined,
    dryRun: string,
    yaml: string,
  ): Promise<Response> {
    if (dryRun !== "shadow" || !policies.shadow) {
      return errorResponse(
        400,
        `dryRun=${cut(dryRun, 40)}: only dryRun=shadow is supported`,
        { errors: [{ message: "unsupported dryRun" }] },
      );
    }
    const seconds = secondsText === undefined ? SHADOW_SECONDS.default : Number(secondsText);
    if (!(seconds >= SHADOW_SECONDS.min && seconds <= SHADOW_SECONDS.max)) {
      return errorResponse(
        400,
        `seconds must be from ${SHADOW_SECONDS.min} to ${SHADOW_SECONDS.max}`,
        { errors: [{ message: "bad seconds" }] },
      );
    }
    const result = await policies.shadow(yaml, seconds);
    if (!result.ok) {
      return errorResponse(400, rejected(result.errors), errorList(result.errors));
    }
    return jsonResponse({ shadow: result.report });
  }

  app.post("/reload", () =>
    change(async () => {
      const result = await policies.reload();
      if (result.errors.length > 0) {
        const files = new Set(result.errors.map((e) => e.file)).size;
        return errorResponse(
          400,
          `reload: ${files} policy file${files === 1 ? "" : "s"} failed; ` +
            "previous versions of those policies keep running",
          { policies: result.policies, ...errorList(result.errors) },
        );
      }
      return jsonResponse({ policies: result.policies, errors: [] });
    }));

  // Explain why no event: where the policy's calls stopped, per hook, and what was exported.
  app.get("/:name/stats", (c) => {
    const name = c.req.param("name");
    const stats = policies.stats(name);
    if (stats === undefined) {
      return errorResponse(404, `no policy named '${cut(name)}'`, { name: cut(name) });
    }
    return jsonResponse(stats);
  });

  app.get("/:name", (c) => {
    const name = c.req.param("name");
    const found = policies.get(name);
    if (found === undefined) {
      return errorResponse(404, `no policy named '${cut(name)}'`, { name: cut(name) });
    }
    return new Response(found.yaml, {
      headers: { "content-type": "application/yaml; charset=utf-8" },
    });
  });

  app.delete("/:name", (c) =>
    change(async () => {
      const name = c.req.param("name");
      if (!(await policies.delete(name))) {
        return errorResponse(404, `no policy named '${cut(name)}'`, { name: cut(name) });
      }
      return jsonResponse({ deleted: name, policies: policies.list() });
    }));

  return app;
}
