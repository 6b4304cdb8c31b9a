// The one place that maps domain errors to HTTP statuses and the `{ error: { code, message } }` body.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { GantryError, InvalidInputsError, RateLimitedError, type ErrorCode } from "../domain/errors.ts";
import { ErrorPage } from "./web/pages/error.tsx";

const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  upstream_failed: 502,
};

/** The status a domain error answers with (for pages that show the error themselves). */
export const statusOf = (error: GantryError): ContentfulStatusCode => STATUS[error.code];

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** Web pages answer errors with a page; the API, hooks and SSE streams with JSON. */
function wantsPage(c: Context): boolean {
  if (/^\/(api|public|hooks)\//.test(c.req.path)) return false;
  if (c.req.header("hx-request")) return true;
  return (c.req.header("accept") ?? "").includes("text/html");
}

export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string): Response | Promise<Response> {
  if (wantsPage(c)) return c.html(ErrorPage({ status, message }), status);
  return c.json(errorBody(code, message), status);
}

export function handleError(error: Error, c: Context): Response | Promise<Response> {
  if (error instanceof RateLimitedError) c.header("retry-after", String(error.retryAfterSeconds));
  // Inputs: every problem by input name, so a client can show each beside its field.
  if (error instanceof InvalidInputsError && !wantsPage(c)) return c.json({ error: { code: error.code, message: error.message, problems: error.problems } }, 400);
  if (error instanceof GantryError) return errorResponse(c, STATUS[error.code], error.code, error.message);
  if (error instanceof SyntaxError && /JSON/i.test(error.message)) {
    return errorResponse(c, 400, "invalid", `request body is not valid JSON: ${error.message}`);
  }
  // Hono's validator throws these, e.g. 400 "Malformed JSON in request body".
  if (error instanceof HTTPException && error.status >= 400 && error.status < 500) {
    return errorResponse(c, error.status as ContentfulStatusCode, error.status === 400 ? "invalid" : "http_error", error.message);
  }
  console.error(`${c.req.method} ${c.req.path} failed:`, error);
  return errorResponse(c, 500, "internal", "internal server error");
}
