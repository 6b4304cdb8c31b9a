// People for tests of users: a sign-in recorded through signIn() (what the OIDC and GitHub
// flows call once the provider has answered), with a real web session on its token.
import { signIn } from "../../app/auth/users.ts";
import type { SignedInProfile } from "../../app/db/repos/users.ts";
import type { TestGantry } from "./gantry.ts";
import type { WebClient } from "./web.ts";

export interface SignedInPerson {
  id: string;
  /** The sign-in token's id (its secret is never shown, as in production). */
  tokenId: string;
  /** A web client on the person's session cookie. */
  web: WebClient;
}

/** Signs a person in as the provider flows do, and opens a web session on their sign-in token. */
export async function signInPerson(gantry: TestGantry, id: string, profile: Partial<SignedInProfile> & { name: string }): Promise<SignedInPerson> {
  const { user, token } = await signIn(
    gantry.deps.db,
    { provider: "oidc", subject: `sub-${id}`, groups: [], mappedRoles: [], ...profile },
    { newId: id, sessionMaxAgeMs: 3_600_000, now: gantry.deps.now() },
  );
  const { cookie } = await gantry.deps.sessions.create(token);
  return { id: user.id, tokenId: token.id, web: await webSession(gantry.url, cookie) };
}

/** A web client on an existing session cookie, with the CSRF token its pages carry. */
export async function webSession(baseUrl: string, cookie: string): Promise<WebClient> {
  const headers = { cookie: `gantry_session=${cookie}` };
  const home = await (await fetch(`${baseUrl}/`, { headers })).text();
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(home)?.[1];
  if (!csrf) throw new Error(`no CSRF token on the dashboard: ${home.slice(0, 300)}`);
  return {
    cookie,
    csrf,
    get: (path, extra = {}) => fetch(`${baseUrl}${path}`, { redirect: "manual", headers: { ...headers, accept: "text/html", ...extra } }),
    post: (path, form = {}) =>
      fetch(`${baseUrl}${path}`, {
        method: "POST",
        redirect: "manual",
        headers: { ...headers, accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _csrf: csrf, ...form }).toString(),
      }),
  };
}
