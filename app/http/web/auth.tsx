// Web login and logout: a token becomes an HttpOnly, SameSite=Strict session cookie; the
// first-start link (/login?token=...) logs straight in; logout ends the session server-side.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { guardAuthentication } from "../../auth/failed-auth.ts";
import { SESSION_COOKIE } from "../../auth/sessions.ts";
import { authenticate } from "../../auth/tokens.ts";
import { ForbiddenError, UnauthorizedError } from "../../domain/errors.ts";
import { clientAddress } from "../client-address.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf, sameOrigin } from "../middleware/csrf.ts";
import { requireSession } from "../middleware/session.ts";
import { formText } from "./form.ts";
import { localPath } from "./local-path.ts";
import { LoginPage } from "./pages/login.tsx";

/** Only local paths, so a login link cannot bounce to another site. */
const safeNext = localPath;

async function logIn(c: Context<AppEnv>, secret: string, next: string): Promise<Response> {
  const deps = c.get("deps");
  const token = await guardAuthentication(deps, clientAddress(c), "web", () => authenticate(deps.db, secret, deps.now()));
  const { cookie } = await deps.sessions.create(token);
  setCookie(c, SESSION_COOKIE, cookie, {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    secure: new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https",
    maxAge: deps.sessions.maxAgeSeconds,
  });
  return c.redirect(safeNext(next), 303);
}

async function loginFailure(c: Context<AppEnv>, next: string, attempt: () => Promise<Response>): Promise<Response> {
  try {
    return await attempt();
  } catch (error) {
    if (error instanceof UnauthorizedError) return c.html(<LoginPage next={next} error={`Login failed: ${error.message}.`} />, 401);
    throw error;
  }
}

export const authPages = new Hono<AppEnv>()
  .get("/login", async (c) => {
    const next = safeNext(c.req.query("next"));
    const token = c.req.query("token");
    if (token) return loginFailure(c, next, () => logIn(c, token, next));
    return c.html(<LoginPage next={next} />);
  })
  .post("/login", async (c) => {
    // No session yet, so no CSRF token: a cross-site form post is refused by its Origin.
    if (!sameOrigin(c)) throw new ForbiddenError("cross-site login refused");
    const form = await c.req.parseBody();
    const next = safeNext(formText(form.next));
    const secret = formText(form.token).trim();
    if (!secret) return c.html(<LoginPage next={next} error="Paste a token to log in." />, 400);
    return loginFailure(c, next, () => logIn(c, secret, next));
  })
  .post("/logout", requireSession, requireCsrf, async (c) => {
    await c.get("deps").sessions.end(c.get("session").session.id);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  });
