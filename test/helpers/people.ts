// People for tests of users: a sign-in recorded through signIn() (what the OIDC and GitHub
// flows call once the provider has answered), with a real web session on its token.
import { signIn } from "../../app/auth/users.ts";
import type { SignedInProfile } from "../../app/db/repos/users.ts";
import type { TestGantry } from "./gantry.ts";
import { webSession, type WebClient } from "./web.ts";

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

