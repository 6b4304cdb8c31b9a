// Web pages: the session cookie becomes the caller's token and permissions; without a live
// session, pages redirect to /login (htmx requests get 401 with HX-Redirect).
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { permissionsOf } from "../../auth/roles.ts";
import { SESSION_COOKIE } from "../../auth/sessions.ts";
import type { AppEnv } from "../env.ts";

export const requireSession = createMiddleware<AppEnv>(async (c, next) => {
  const deps = c.get("deps");
  const active = await deps.sessions.verify(getCookie(c, SESSION_COOKIE));
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
