/**
 * Policy routes (mounted at `/policies`): list, show (YAML), add or replace, delete, reload.
 * Authentication and body limits are applied by the parent app to every mutating request.
 *
 * @module
 */
import { Hono } from "hono";
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
  return `policy rejected: ${first.message}${where}${more}`;
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

  app.post("/", async (c) => {
    const yaml = await c.req.text();
    if (yaml.trim() === "") {
      return errorResponse(400, "empty request body: send one TracingPolicy as YAML", {
        errors: [{ message: "empty request body" }],
      });
    }
    const result = await policies.apply(yaml, API_POLICY_SOURCE);
    if (!result.ok) {
      return errorResponse(400, rejected(result.errors), { errors: result.errors });
    }
    return jsonResponse({ policy: result.policy, replaced: result.replaced });
  });

  app.post("/reload", async () => {
    const result = await policies.reload();
    if (result.errors.length > 0) {
      const n = result.errors.length;
      return errorResponse(
        400,
        `reload: ${n} policy file${n === 1 ? "" : "s"} failed; ` +
          "previous versions of those policies keep running",
        { policies: result.policies, errors: result.errors },
      );
    }
    return jsonResponse({ policies: result.policies, errors: [] });
  });

  app.get("/:name", (c) => {
    const name = c.req.param("name");
    const found = policies.get(name);
    if (found === undefined) {
      return errorResponse(404, `no policy named '${name}'`, { name });
    }
    return new Response(found.yaml, {
      headers: { "content-type": "application/yaml; charset=utf-8" },
    });
  });

  app.delete("/:name", async (c) => {
    const name = c.req.param("name");
    if (!(await policies.delete(name))) {
      return errorResponse(404, `no policy named '${name}'`, { name });
    }
    return jsonResponse({ deleted: name, policies: policies.list() });
  });

  return app;
}
