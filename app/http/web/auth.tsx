// Web login and logout: a token, or the first-start link's one-time code, becomes an HttpOnly,
// SameSite=Strict session cookie. Both are exchanged by a same-origin POST only (a GET never
// logs in, so no other site can log a browser in); logout ends the session server-side.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { guardAuthentication } from "../../auth/failed-auth.ts";
import { LOGIN_CODE_PREFIX, loginCodeProblem, redeemLoginCode } from "../../auth/login-codes.ts";
import { authenticate } from "../../auth/tokens.ts";
import type { TokenRow } from "../../db/repos/tokens.ts";
import { ForbiddenError, UnauthorizedError } from "../../domain/errors.ts";
import { clientAddress } from "../client-address.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf, sameOrigin } from "../middleware/csrf.ts";
import { clearSessionCookie, requireSession, setSessionCookie } from "../middleware/session.ts";
import { formText } from "./form.ts";
import { localPath } from "./local-path.ts";
import { LoginPage, type LoginPageProps, type SignInButton } from "./pages/login.tsx";

/** Only local paths, so a login link cannot bounce to another site. */
const safeNext = localPath;

/** What a login code looks like (LOGIN_CODE_PREFIX and 32 random bytes, base64url). */
const loginCodeSchema = v.pipe(v.string(), v.regex(new RegExp(`^${LOGIN_CODE_PREFIX}[A-Za-z0-9_-]{43}$`)));

const loginQuery = v.object({
  next: v.optional(v.string()),
  code: v.optional(v.string()),
  token: v.optional(v.string()),
});

/** A button per configured identity provider. */
function signInButtons(c: Context<AppEnv>): SignInButton[] {
  const { config, signIns } = c.get("deps");
  return [
    ...(signIns.oidc ? [{ start: "/auth/oidc/start", label: config.oidcName }] : []),
    ...(signIns.github ? [{ start: "/auth/github/start", label: "GitHub" }] : []),
  ];
}

/** The login page, with this server's sign-in buttons. */
const loginPage = (c: Context<AppEnv>, props: Omit<LoginPageProps, "providers">) => <LoginPage {...props} providers={signInButtons(c)} />;

async function startSession(c: Context<AppEnv>, token: TokenRow, next: string): Promise<Response> {
  const deps = c.get("deps");
  const { cookie } = await deps.sessions.create(token);
  setSessionCookie(c, cookie, deps.sessions.maxAgeSeconds);
  return c.redirect(safeNext(next), 303);
}

/** Logs in with what was presented; a refusal shows the form again with the reason and 401. */
async function logIn(c: Context<AppEnv>, next: string, presented: { token: string } | { code: string }): Promise<Response> {
  const deps = c.get("deps");
  const from = { address: clientAddress(c), presented: "code" in presented ? presented.code : presented.token };
  try {
    const token =
      "code" in presented
        ? await guardAuthentication(deps, from, "web-code", async () => {
            if (!v.is(loginCodeSchema, presented.code)) throw new UnauthorizedError("this login link is not valid");
            return redeemLoginCode(deps.db, presented.code, deps.now());
          })
        : await guardAuthentication(deps, from, "web", () => authenticate(deps.db, presented.token, deps.now()));
    return await startSession(c, token, next);
  } catch (error) {
    if (error instanceof UnauthorizedError) return c.html(loginPage(c, { next, error: `Login failed: ${error.message}.` }), 401);
    throw error;
  }
}

export const authPages = new Hono<AppEnv>()
  .get("/login", async (c) => {
    const parsed = v.safeParse(loginQuery, c.req.query());
    const query = parsed.success ? parsed.output : {};
    const next = safeNext(query.next);
    if (query.code !== undefined) {
      // The page carries the code: no cache keeps it. Checking does not use it up; the POST does.
      c.header("cache-control", "no-store");
      const deps = c.get("deps");
      const problem = v.is(loginCodeSchema, query.code) ? await loginCodeProblem(deps.db, query.code, deps.now()) : "this login link is not valid";
      if (problem) return c.html(loginPage(c, { next, error: `Login link: ${problem}.` }), 410);
      return c.html(loginPage(c, { next, code: query.code }));
    }
    if (query.token !== undefined) {
      // Old first-start links carried the token itself; it is not used from a URL any more.
      return c.html(loginPage(c, { next, error: "Tokens are not accepted in links (links end up in logs and histories): paste it below." }), 400);
    }
    return c.html(loginPage(c, { next }));
  })
  .post("/login", async (c) => {
    // No session yet, so no CSRF token: a cross-site form post is refused by its Origin.
    if (!sameOrigin(c)) throw new ForbiddenError("cross-site login refused");
    const form = await c.req.parseBody();
    const next = safeNext(formText(form.next));
    const code = formText(form.code).trim();
    if (code) return logIn(c, next, { code });
    const secret = formText(form.token).trim();
    if (!secret) return c.html(loginPage(c, { next, error: "Paste a token to log in." }), 400);
    return logIn(c, next, { token: secret });
  })
  .post("/logout", requireSession, requireCsrf, async (c) => {
    await c.get("deps").sessions.end(c.get("session").session.id);
    clearSessionCookie(c);
    return c.redirect("/login", 303);
  });
