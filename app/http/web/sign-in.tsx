// Sign-in through an identity provider: /auth/<provider>/start sends the browser to the
// provider with a flow cookie (SameSite=Lax, so it comes back on the provider's redirect);
// /auth/<provider>/callback checks the answer against it, signs the person in, starts a session.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import * as v from "valibot";
import { FLOW_MAX_AGE_SECONDS, SignInError, type SignInProvider } from "../../auth/sign-in-flow.ts";
import { signIn } from "../../auth/users.ts";
import { insertEvent } from "../../db/repos/events.ts";
import { ForbiddenError } from "../../domain/errors.ts";
import { clientAddress, requestIsHttps } from "../client-address.ts";
import type { AppEnv } from "../env.ts";
import { setSessionCookie } from "../middleware/session.ts";
import { localPath } from "./local-path.ts";
import { SignedInPage, SignInErrorPage } from "./pages/sign-in.tsx";

const FLOW_COOKIE = "gantry_sign_in";
const providerParam = v.object({ provider: v.picklist(["oidc", "github"]) });
const startQuery = v.object({ next: v.optional(v.string()) });
const callbackQuery = v.record(v.string(), v.string());

/** `__Host-` prefixed over https, as the session cookie (see middleware/session.ts). */
const flowCookieName = (c: Context<AppEnv>) => (requestIsHttps(c) ? `__Host-${FLOW_COOKIE}` : FLOW_COOKIE);
const flowCookieOptions = (c: Context<AppEnv>) => ({ httpOnly: true, sameSite: "Lax" as const, path: "/", secure: requestIsHttps(c) });

/** The provider's name as the person knows it. */
function providerLabel(c: Context<AppEnv>, provider: SignInProvider): string {
  return provider === "oidc" ? c.get("deps").config.oidcName : "GitHub";
}

/** Where the provider sends the browser back: on the public URL, as registered with the provider. */
const redirectUri = (c: Context<AppEnv>, provider: SignInProvider) => `${c.get("deps").urls.api}/auth/${provider}/callback`;

/** A refused sign-in: written as auth.failed (reason, never a secret) and shown with the way back. */
async function refuse(c: Context<AppEnv>, provider: SignInProvider, error: SignInError): Promise<Response> {
  const deps = c.get("deps");
  const now = deps.now();
  const address = clientAddress(c);
  // The failed-auth limiter keeps a flood of forged callbacks from flooding the event log too.
  const key = { address, prefix: `sign-in:${provider}` };
  if (deps.authLimiter.retryAfter(key, now.getTime()) === 0) {
    deps.authLimiter.recordFailure(key, now.getTime());
    await insertEvent(deps.db, { kind: "auth.failed", data: { address, via: `sign-in-${provider}`, provider, reason: error.reason, message: error.message }, at: now });
    deps.bus.publish({ kind: "auth.failed" });
  }
  c.header("cache-control", "no-store");
  return c.html(<SignInErrorPage provider={providerLabel(c, provider)} message={error.message} />, error.status);
}

/** A refusal for a provider this server has no settings for. */
function notConfigured(provider: SignInProvider): SignInError {
  const settings = provider === "oidc" ? "GANTRY_OIDC_ISSUER and GANTRY_OIDC_CLIENT_ID" : "GANTRY_GITHUB_OAUTH_CLIENT_ID";
  return new SignInError("misconfigured", `sign-in with ${provider === "oidc" ? "OpenID Connect" : "GitHub"} is not set up on this server (${settings})`, 400);
}

function oidcOf(c: Context<AppEnv>) {
  const oidc = c.get("deps").signIns.oidc;
  if (!oidc) throw notConfigured("oidc");
  return oidc;
}

function githubOf(c: Context<AppEnv>) {
  const github = c.get("deps").signIns.github;
  if (!github) throw notConfigured("github");
  return github;
}

export const signInPages = new Hono<AppEnv>()
  .get("/:provider/start", async (c) => {
    const params = v.safeParse(providerParam, c.req.param());
    if (!params.success) return c.notFound();
    const provider = params.output.provider;
    const query = v.safeParse(startQuery, c.req.query());
    const next = localPath(query.success ? query.output.next : undefined);
    try {
      const { url, flow } = await (provider === "oidc" ? oidcOf(c) : githubOf(c)).start(redirectUri(c, provider), next);
      const deps = c.get("deps");
      setCookie(c, flowCookieName(c), await deps.signIns.flows.seal(flow), { ...flowCookieOptions(c), maxAge: FLOW_MAX_AGE_SECONDS });
      c.header("cache-control", "no-store");
      return c.redirect(url, 302);
    } catch (error) {
      if (error instanceof SignInError) return refuse(c, provider, error);
      throw error;
    }
  })
  .get("/:provider/callback", async (c) => {
    const params = v.safeParse(providerParam, c.req.param());
    if (!params.success) return c.notFound();
    const provider = params.output.provider;
    const deps = c.get("deps");
    // The flow cookie is used up whatever happens: a second callback in this browser finds none.
    const cookie = getCookie(c, flowCookieName(c));
    deleteCookie(c, flowCookieName(c), flowCookieOptions(c));
    const parsedQuery = v.safeParse(callbackQuery, c.req.query());
    const query = parsedQuery.success ? parsedQuery.output : {};
    try {
      if (!(provider === "oidc" ? deps.signIns.oidc : deps.signIns.github)) throw notConfigured(provider);
      const flow = await deps.signIns.flows.open(cookie, provider, query.state);
      const uri = redirectUri(c, provider);
      const profile =
        provider === "oidc"
          ? await oidcOf(c).finish(uri, new URL(c.req.url).search, flow)
          : await githubOf(c).finish(uri, query, flow);
      let signedIn: Awaited<ReturnType<typeof signIn>>;
      try {
        signedIn = await signIn(deps.db, profile, { newId: crypto.randomUUID(), sessionMaxAgeMs: deps.config.sessionMaxAgeMs, now: deps.now() });
      } catch (error) {
        if (error instanceof ForbiddenError) throw new SignInError("user_disabled", error.message, 403);
        throw error;
      }
      const { cookie: session } = await deps.sessions.create(signedIn.token);
      setSessionCookie(c, session, deps.sessions.maxAgeSeconds);
      c.header("cache-control", "no-store");
      return c.html(<SignedInPage who={signedIn.token.name} next={localPath(flow.next)} />);
    } catch (error) {
      if (error instanceof SignInError) return refuse(c, provider, error);
      throw error;
    }
  });
