// Web pages: the session cookie becomes the caller's token and permissions; without a live
// session, pages redirect to /login (htmx requests get 401 with HX-Redirect). Also the one
// place that names, sets and clears that cookie (`__Host-` prefixed over https).
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { permissionsOf } from "../../auth/roles.ts";
import { SESSION_COOKIE } from "../../auth/sessions.ts";
import { requestIsHttps } from "../client-address.ts";
import type { AppEnv } from "../env.ts";

/**
 * The session cookie's name for this request. Over https it is `__Host-` prefixed: browsers
 * then accept it only Secure, for Path=/ and without Domain, so no sibling subdomain can set
 * or shadow it. Over https only that name is read, so a plain-named cookie planted over http
 * or by a subdomain is never taken for a session.
 */
export function sessionCookieName(c: Context<AppEnv>): string {
  return requestIsHttps(c) ? `__Host-${SESSION_COOKIE}` : SESSION_COOKIE;
}

/** The session cookie the request carries, if any. */
export const readSessionCookie = (c: Context<AppEnv>): string | undefined => getCookie(c, sessionCookieName(c));

/** HttpOnly and SameSite=Strict always; Secure (and `__Host-`) over https. */
export function setSessionCookie(c: Context<AppEnv>, value: string, maxAgeSeconds: number): void {
  const https = requestIsHttps(c);
  setCookie(c, sessionCookieName(c), value, { httpOnly: true, sameSite: "Strict", path: "/", secure: https, maxAge: maxAgeSeconds });
}

export function clearSessionCookie(c: Context<AppEnv>): void {
  // A `__Host-` cookie is only replaced by one with the same attributes, Secure included.
  deleteCookie(c, sessionCookieName(c), { path: "/", secure: requestIsHttps(c), httpOnly: true, sameSite: "Strict" });
}

export const requireSession = createMiddleware<AppEnv>(async (c, next) => {
  const deps = c.get("deps");
  const active = await deps.sessions.verify(readSessionCookie(c));
  if (!active) {
    // Back to where the visitor was going once logged in.
    const login = `/login?next=${encodeURIComponent(c.req.path + new URL(c.req.url).search)}`;
    if (c.req.header("hx-request")) {
      c.header("hx-redirect", login);
      return c.body(null, 401);
    }
    return c.redirect(login, 303);
  }
  c.set("session", active);
  c.set("token", active.token);
  c.set("permissions", await permissionsOf(deps.db, active.token));
  await next();
});
