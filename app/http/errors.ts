// The one place that maps domain errors to HTTP statuses and the `{ error: { code, message } }` body.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { GantryError, RateLimitedError, type ErrorCode } from "../domain/errors.ts";

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
};

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export function handleError(error: Error, c: Context): Response {
  if (error instanceof RateLimitedError) c.header("retry-after", String(error.retryAfterSeconds));
  if (error instanceof GantryError) return c.json(errorBody(error.code, error.message), STATUS[error.code]);
  if (error instanceof SyntaxError && /JSON/i.test(error.message)) {
    return c.json(errorBody("invalid", `request body is not valid JSON: ${error.message}`), 400);
  }
  // Hono's validator throws these, e.g. 400 "Malformed JSON in request body".
  if (error instanceof HTTPException && error.status >= 400 && error.status < 500) {
    return c.json(errorBody(error.status === 400 ? "invalid" : "http_error", error.message), error.status as ContentfulStatusCode);
  }
  console.error(`${c.req.method} ${c.req.path} failed:`, error);
  return c.json(errorBody("internal", "internal server error"), 500);
}
