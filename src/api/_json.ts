/**
 * JSON responses for the API: bigints as decimal strings, and the one error shape
 * `{ "error": "<message>", ... }`. Private to `src/api/`.
 *
 * @module
 */
import { bigintReplacer } from "../log/logger.ts";

const JSON_TYPE = "application/json; charset=utf-8";

/** A JSON response (bigint-safe). */
export function jsonResponse(value: unknown, status = 200, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set("content-type", JSON_TYPE);
  return new Response(JSON.stringify(value, bigintReplacer) + "\n", { status, headers: h });
}

/** An error response: `{ "error": message, ...extra }`. */
export function errorResponse(
  status: number,
  message: string,
  extra: Record<string, unknown> = {},
  headers: HeadersInit = {},
): Response {
  return jsonResponse({ error: message, ...extra }, status, headers);
}
