// The reserved secret through which a run started by the github extension gets a fresh GitHub
// App installation token (minted when a task starts, never stored), and the rule for when
// the extension is asked for one. Pure: the SDK names the secret, the engine applies the rule.

/**
 * `secret("github-app-token")`: an installation token of the GitHub App for the repository of
 * the delivery that started the run (contents: read), or the empty string when there is none.
 */
export const GITHUB_TOKEN_SECRET = "github-app-token";

/** The extension that provides GITHUB_TOKEN_SECRET. */
export const GITHUB_TOKEN_EXTENSION = "github";

/** The system variable with the delivery's App installation id (an id, not a secret). */
export const GITHUB_INSTALLATION_VARIABLE = "GANTRY_GITHUB_INSTALLATION";

/**
 * The extension to ask for a reserved secret's value for this run, or undefined when the name
 * is not reserved or the run has nothing to ask for. A run carries GANTRY_GITHUB_INSTALLATION
 * only when the github extension started it (or it re-runs such a run): no user can set a
 * GANTRY_* variable.
 */
export function tokenProviderFor(name: string, runVariables: Readonly<Record<string, string>>): string | undefined {
  if (name !== GITHUB_TOKEN_SECRET) return undefined;
  return runVariables[GITHUB_INSTALLATION_VARIABLE] ? GITHUB_TOKEN_EXTENSION : undefined;
}

/** Whether `secret(name)` is provided by an extension rather than only kept in the secret store. */
export const isProvidedSecret = (name: string): boolean => name === GITHUB_TOKEN_SECRET;
