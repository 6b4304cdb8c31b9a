// Sign-in with GitHub (OAuth apps; GitHub is not an OpenID provider): authorization code with
// state and PKCE, then the person from /user and their orgs and teams for the role map.
import { openIdClient } from "./oidc-sign-in.ts";
import * as v from "valibot";
import type { Config } from "../config.ts";
import type { SignedInProfile } from "../db/repos/users.ts";
import { SignInError, type SignInFlow } from "./sign-in-flow.ts";
import { mapGroups } from "../domain/user-roles.ts";
import { describeFailure } from "./sign-in-checks.ts";

export interface GithubSignIn {
  start(redirectUri: string, next: string): Promise<{ url: string; flow: SignInFlow }>;
  finish(redirectUri: string, query: Record<string, string>, flow: SignInFlow): Promise<SignedInProfile>;
}

const tokenAnswer = v.union([
  v.object({ access_token: v.pipe(v.string(), v.minLength(1)) }),
  v.object({ error: v.string(), error_description: v.optional(v.string()) }),
]);
const userAnswer = v.object({
  id: v.number(),
  login: v.string(),
  name: v.nullish(v.string()),
  email: v.nullish(v.string()),
  avatar_url: v.nullish(v.string()),
});
const emailsAnswer = v.array(v.object({ email: v.string(), primary: v.boolean(), verified: v.boolean() }));
const orgsAnswer = v.array(v.object({ login: v.string() }));
const teamsAnswer = v.array(v.object({ slug: v.string(), organization: v.object({ login: v.string() }) }));

export function createGithubSignIn(config: Config, options: { timeoutMs?: number } = {}): GithubSignIn | undefined {
  if (!config.githubOAuthClientId) return undefined;
  const clientId = config.githubOAuthClientId;
  const webUrl = config.githubOAuthUrl.replace(/\/$/, "");
  const apiUrl = config.githubOAuthApiUrl.replace(/\/$/, "");
  const timeoutMs = options.timeoutMs ?? 10_000;
  // Org and team names are case-insensitive on GitHub; the role map is matched that way too.
  const roleMap = config.githubOAuthRoleMap.map((entry) => ({ ...entry, group: entry.group.toLowerCase() }));

  /** One request to GitHub; a network failure or a 5xx is "could not reach", a 4xx a refusal. */
  async function call<T>(url: string, init: RequestInit, schema: v.GenericSchema<unknown, T>): Promise<T> {
    let response: Response;
    try {
      response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new SignInError("unreachable", `could not reach ${new URL(url).origin}: ${describeFailure(error)}`, 503);
    }
    if (response.status >= 500) throw new SignInError("unreachable", `${new URL(url).origin} answered ${response.status}`, 503);
    if (!response.ok) throw new SignInError("token_rejected", `GitHub refused ${new URL(url).pathname}: ${response.status}`, 400);
    const parsed = v.safeParse(schema, await response.json().catch(() => undefined));
    if (!parsed.success) throw new SignInError("profile_invalid", `GitHub's answer to ${new URL(url).pathname} was not understood`, 502);
    return parsed.output;
  }

  const api = <T>(path: string, token: string, schema: v.GenericSchema<unknown, T>) =>
    call(`${apiUrl}${path}`, { headers: { authorization: `Bearer ${token}`, accept: "application/vnd.github+json", "user-agent": "gantry" } }, schema);

  return {
    async start(redirectUri, next) {
      // The same state and PKCE helpers as the OIDC flow (openid-client), for GitHub's OAuth.
      const client = await openIdClient();
      const flow: SignInFlow = { provider: "github", state: client.randomState(), verifier: client.randomPKCECodeVerifier(), next };
      const challenge = await client.calculatePKCECodeChallenge(flow.verifier);
      const url = new URL(`${webUrl}/login/oauth/authorize`);
      url.search = new URLSearchParams({
        client_id: clientId,
        redirect_uri: redirectUri,
        // read:org so private org and team memberships count for the role map.
        scope: "read:user user:email read:org",
        state: flow.state,
        code_challenge: challenge,
        code_challenge_method: "S256",
        allow_signup: "false",
      }).toString();
      return { url: url.href, flow };
    },
    async finish(redirectUri, query, flow) {
      if (query.error) {
        throw new SignInError("provider_error", `GitHub refused: ${query.error}${query.error_description ? ` (${query.error_description})` : ""}`, 403);
      }
      if (!query.code) throw new SignInError("provider_error", "GitHub sent no authorization code", 400);
      const answer = await call(
        `${webUrl}/login/oauth/access_token`,
        {
          method: "POST",
          headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            client_id: clientId,
            client_secret: config.githubOAuthClientSecret ?? "",
            code: query.code,
            redirect_uri: redirectUri,
            code_verifier: flow.verifier,
          }),
        },
        tokenAnswer,
      );
      // GitHub answers a bad or used code with 200 and an error field.
      if ("error" in answer) throw new SignInError("token_rejected", `GitHub refused the code: ${answer.error}${answer.error_description ? ` (${answer.error_description})` : ""}`, 400);
      const token = answer.access_token;
      const user = await api("/user", token, userAnswer);
      let email = user.email ?? undefined;
      if (!email) {
        const emails = await api("/user/emails?per_page=100", token, emailsAnswer);
        email = emails.find((entry) => entry.primary && entry.verified)?.email;
      }
      let groups: string[] = [];
      if (roleMap.length > 0) {
        // Only the first 100 of each: more orgs or teams than that is not a person we expect.
        const [orgs, teams] = await Promise.all([api("/user/orgs?per_page=100", token, orgsAnswer), api("/user/teams?per_page=100", token, teamsAnswer)]);
        groups = [...new Set([...orgs.map((org) => org.login), ...teams.map((team) => `${team.organization.login}/${team.slug}`)].map((group) => group.toLowerCase()))];
      }
      return {
        provider: "github",
        // GitHub Enterprise numbers its users apart from github.com.
        issuer: new URL(config.githubOAuthUrl).host,
        subject: String(user.id),
        name: user.name?.trim() || user.login,
        login: user.login,
        ...(email && { email }),
        ...(user.avatar_url && { avatarUrl: user.avatar_url }),
        groups,
        mappedRoles: mapGroups(groups, roleMap),
      };
    },
  };
}
