// CSRF protection for every state-changing web request, htmx ones included: the session's
// CSRF token must come back in the X-CSRF-Token header (htmx, via hx-headers) or the _csrf
// form field, and a cross-site Origin is refused outright.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { ForbiddenError } from "../../domain/errors.ts";
import type { AppEnv } from "../env.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Whether a request comes from one of our own pages. Browsers say so in Sec-Fetch-Site;
 * without it, the Origin's host must be ours. `Origin: null` (sandboxed frames, some
 * privacy settings) is not ours.
 */
export function sameOrigin(c: Context): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site) return site === "same-origin" || site === "none";
  const origin = c.req.header("origin");
  if (!origin) return true;
  try {
    return new URL(origin).host === new URL(c.req.url).host;
  } catch {
    return false;
  }
}

export const requireCsrf = createMiddleware<AppEnv>(async (c, next) => {
  if (SAFE_METHODS.has(c.req.method)) return next();
  if (!sameOrigin(c)) throw new ForbiddenError("cross-site request refused");
  const session = c.get("session");
  let presented = c.req.header("x-csrf-token");
  if (!presented && c.req.header("content-type")?.match(/application\/x-www-form-urlencoded|multipart\/form-data/)) {
    const form = await c.req.parseBody();
    presented = typeof form._csrf === "string" ? form._csrf : undefined;
  }
  if (!session || !c.get("deps").sessions.checkCsrf(session, presented)) {
    throw new ForbiddenError("CSRF token missing or invalid: reload the page and try again");
  }
  await next();
});
