// Small pure checks the sign-in flows share: their settings, loopback hosts (where plain http
// is allowed), allowed email domains, and a provider failure told without its secrets.
import { isLoopbackHost } from "../domain/loopback.ts";

/** Whether an address's domain is one of `domains` (exactly: a subdomain is another organisation). */
export function emailDomainAllowed(email: string, domains: readonly string[]): boolean {
  const at = email.lastIndexOf("@");
  if (at < 1) return false;
  const domain = email.slice(at + 1).toLowerCase();
  return domains.some((allowed) => allowed.toLowerCase().replace(/^@/, "") === domain);
}

/** A failure's message with its cause (fetch puts the network reason there), one line. */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  const message = cause && !error.message.includes(cause) ? `${error.message}: ${cause}` : error.message;
  return message.replace(/\s+/g, " ").slice(0, 300);
}

interface SignInSettings {
  oidcIssuer?: string | undefined;
  oidcClientId?: string | undefined;
  githubOAuthClientId?: string | undefined;
  githubOAuthClientSecret?: string | undefined;
}

/** Why the sign-in settings cannot work, or undefined: refused when the config loads. */
export function signInSettingsProblem(config: SignInSettings): string | undefined {
  if (config.oidcIssuer) {
    if (!config.oidcClientId) return "GANTRY_OIDC_CLIENT_ID must be set with GANTRY_OIDC_ISSUER";
    const issuer = new URL(config.oidcIssuer);
    if (issuer.protocol === "http:" && !isLoopbackHost(issuer.hostname)) {
      return `GANTRY_OIDC_ISSUER ${config.oidcIssuer}: http:// is accepted only on loopback addresses (local and test providers); use https://`;
    }
    if (issuer.protocol !== "http:" && issuer.protocol !== "https:") return `GANTRY_OIDC_ISSUER ${config.oidcIssuer} must be an https:// URL`;
  }
  if (config.githubOAuthClientId && !config.githubOAuthClientSecret) return "GANTRY_GITHUB_OAUTH_CLIENT_SECRET must be set with GANTRY_GITHUB_OAUTH_CLIENT_ID";
  return undefined;
}
