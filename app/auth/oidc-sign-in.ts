// Sign-in through an OpenID Connect provider (Keycloak, Dex, Authentik, Google, GitLab…) with
// openid-client: discovery on first use, authorization code with PKCE, state and nonce, the ID
// token verified (issuer, audience, expiry, signature), then the person's profile and groups.
import type * as OpenId from "openid-client";
import * as v from "valibot";
import type { Config } from "../config.ts";
import type { SignedInProfile } from "../db/repos/users.ts";
import { SignInError, type SignInFlow } from "./sign-in-flow.ts";
import { mapGroups } from "../domain/user-roles.ts";
import { emailDomainAllowed, describeFailure } from "./sign-in-checks.ts";

export interface OidcSignIn {
  readonly issuer: string;
  /** The provider's authorization URL for a new flow, and the flow to keep in the browser. */
  start(redirectUri: string, next: string): Promise<{ url: string; flow: SignInFlow }>;
  /** Checks the callback against its flow, redeems the code and reads who signed in. */
  finish(redirectUri: string, callbackQuery: string, flow: SignInFlow): Promise<SignedInProfile>;
}

/** A claim that may be a list of strings or one string ("groups": "dev"). */
const groupsClaim = v.union([v.array(v.string()), v.pipe(v.string(), v.transform((group) => [group]))]);
const text = v.pipe(v.string(), v.trim(), v.minLength(1));
const claimsSchema = v.looseObject({
  sub: text,
  name: v.optional(v.unknown()),
  preferred_username: v.optional(v.unknown()),
  email: v.optional(v.unknown()),
  email_verified: v.optional(v.unknown()),
  picture: v.optional(v.unknown()),
});
const optionalText = (value: unknown) => (v.is(text, value) ? value.trim() : undefined);

/** openid-client (and the JOSE code under it) loads on the first sign-in, not with every server. */
export const openIdClient = () => import("openid-client");

export interface OidcSignInOptions {
  /** Seconds each request to the provider may take. */
  timeoutSeconds?: number;
  /** The server's clock: ID tokens are checked against it (a test's fake clock included). */
  now?: () => Date;
}

export function createOidcSignIn(config: Config, options: OidcSignInOptions = {}): OidcSignIn | undefined {
  if (!config.oidcIssuer || !config.oidcClientId) return undefined;
  const issuer = config.oidcIssuer;
  const clientId = config.oidcClientId;
  const insecure = new URL(issuer).protocol === "http:";
  let discovered: Promise<OpenId.Configuration> | undefined;

  // Discovered on first use, not at start: a provider that is down must not stop the server.
  // A failed discovery is not kept, so the next sign-in tries again.
  const configuration = () => {
    discovered ??= openIdClient()
      .then((client) =>
        client.discovery(
          new URL(issuer),
          clientId,
          {
            ...(config.oidcClientSecret !== undefined && { client_secret: config.oidcClientSecret }),
            // One clock for the whole server: token expiry is judged by the same time as sessions.
            ...(options.now && { [client.clockSkew]: Math.round((options.now().getTime() - Date.now()) / 1000) }),
          },
          undefined,
          {
            timeout: options.timeoutSeconds ?? 10,
            ...(insecure && { execute: [client.allowInsecureRequests] }),
          },
        ),
      )
      .catch((error: unknown) => {
        discovered = undefined;
        throw new SignInError("unreachable", `could not reach ${issuer}: ${describeFailure(error)}`, 503);
      });
    return discovered;
  };

  return {
    issuer,
    async start(redirectUri, next) {
      const client = await openIdClient();
      const found = await configuration();
      const flow: SignInFlow = { provider: "oidc", state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier(), next };
      const url = client.buildAuthorizationUrl(found, {
        redirect_uri: redirectUri,
        scope: "openid profile email",
        state: flow.state,
        nonce: flow.nonce!,
        code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
        code_challenge_method: "S256",
      });
      return { url: url.href, flow };
    },
    async finish(redirectUri, callbackQuery, flow) {
      const client = await openIdClient();
      const found = await configuration();
      // The URL the provider sent the browser to, rebuilt on the public URL: behind a proxy the
      // request's own URL may differ, and redirect_uri must match what the provider was given.
      const currentUrl = new URL(`${redirectUri}${callbackQuery}`);
      let tokens: Awaited<ReturnType<typeof OpenId.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(found, currentUrl, {
          expectedState: flow.state,
          expectedNonce: flow.nonce!,
          pkceCodeVerifier: flow.verifier,
          idTokenExpected: true,
        });
      } catch (error) {
        throw grantFailure(client, issuer, error);
      }
      const idClaims = tokens.claims();
      if (!idClaims) throw new SignInError("token_rejected", "the provider sent no ID token", 502);
      let claims: Record<string, unknown> = { ...idClaims };
      // Providers often leave name, email or groups out of the ID token; userinfo has them.
      const missing = [config.oidcGroupsClaim, "email", "name"].some((claim) => claims[claim] === undefined);
      if (missing && found.serverMetadata().userinfo_endpoint) {
        try {
          const info = await client.fetchUserInfo(found, tokens.access_token, idClaims.sub);
          claims = { ...info, ...claims };
        } catch (error) {
          throw grantFailure(client, issuer, error);
        }
      }
      return oidcProfile(config, claims);
    },
  };
}

/** The person an ID token (and userinfo) names, checked against the allowed domains. */
export function oidcProfile(config: Pick<Config, "oidcIssuer" | "oidcGroupsClaim" | "oidcRoleMap" | "oidcAllowedDomains">, raw: Record<string, unknown>): SignedInProfile {
  const parsed = v.safeParse(claimsSchema, raw);
  if (!parsed.success) throw new SignInError("profile_invalid", "the provider's ID token names no subject", 502);
  const claims = parsed.output;
  const email = optionalText(claims.email);
  if (config.oidcAllowedDomains.length > 0) {
    // An unverified address proves nothing about the domain the person belongs to.
    // Verified means said so: a missing claim (or "false" as text) proves nothing.
    const verified = claims.email_verified === true || claims.email_verified === "true";
    if (!email || !verified || !emailDomainAllowed(email, config.oidcAllowedDomains)) {
      // Said to the person on the page; the event keeps it too, so it names no address.
      throw new SignInError("domain_not_allowed", email && !verified ? "this account's email address is not verified by the provider, so its domain cannot be trusted" : "this account's email domain may not sign in here", 403);
    }
  }
  const groupsParsed = v.safeParse(groupsClaim, raw[config.oidcGroupsClaim]);
  const groups = groupsParsed.success ? groupsParsed.output : [];
  const login = optionalText(claims.preferred_username);
  return {
    provider: "oidc",
    // A subject is unique within its issuer only: another provider's "alice" is someone else.
    ...(config.oidcIssuer && { issuer: config.oidcIssuer }),
    subject: claims.sub,
    name: optionalText(claims.name) ?? login ?? email ?? claims.sub,
    ...(login && { login }),
    ...(email && { email }),
    ...(optionalText(claims.picture) && { avatarUrl: optionalText(claims.picture) }),
    groups,
    mappedRoles: mapGroups(groups, config.oidcRoleMap),
  };
}

/** What went wrong redeeming the code, as the person should read it. */
function grantFailure(client: typeof OpenId, issuer: string, error: unknown): SignInError {
  if (error instanceof SignInError) return error;
  if (error instanceof client.AuthorizationResponseError) {
    return new SignInError("provider_error", `the provider refused: ${error.error}${error.error_description ? ` (${error.error_description})` : ""}`, 403);
  }
  if (error instanceof client.ResponseBodyError) {
    return new SignInError("token_rejected", `the provider refused the sign-in: ${error.error}${error.error_description ? ` (${error.error_description})` : ""}`, 400);
  }
  if (error instanceof client.ClientError) {
    // openid-client's own checks: ID token issuer, audience, expiry, nonce, signature, state.
    // oauth4webapi's reason names the check ('unexpected ID Token "nonce" claim value'); the
    // values it compared (a nonce) are in its cause's fields, which stay out of pages and events.
    const detail = error.cause instanceof Error && error.cause.message !== error.message ? `: ${error.cause.message}` : "";
    return new SignInError("token_rejected", `the provider's answer failed a check: ${error.message}${detail}`, 400);
  }
  return new SignInError("unreachable", `could not reach ${issuer}: ${describeFailure(error)}`, 503);
}
