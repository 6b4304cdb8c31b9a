// The login page: paste an API token to get a session, or, from the first-start link, confirm
// its one-time code (a POST: opening the link alone never logs anyone in); above them, a
// "Sign in with …" button per configured identity provider.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Page } from "../layouts/page.tsx";

export interface LoginPageProps {
  next: string;
  error?: string;
  /** A one-time code from the first-start link that still works: the page offers to use it. */
  code?: string;
  /** The configured identity providers' buttons (links: a form's redirect to another site would break form-action 'self'). */
  providers?: SignInButton[];
}

export interface SignInButton {
  /** The start path, e.g. /auth/oidc/start. */
  start: string;
  label: string;
}

export function LoginPage({ next, error, code, providers = [] }: LoginPageProps) {
  return (
    <Page title="Log in">
      <section class="card narrow">
        <h1>Log in</h1>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {!code && providers.length > 0 && (
          <>
            <ul class="sign-in-providers">
              {providers.map((provider) => (
                <li>
                  <a class="button" href={`${provider.start}?next=${encodeURIComponent(next)}`}>
                    {`Sign in with ${provider.label}`}
                  </a>
                </li>
              ))}
            </ul>
            <p class="hint">Or, for bootstrap and emergencies:</p>
          </>
        )}
        {code ? (
          <>
            <p>This one-time link logs you in with the server's first admin token. It works once, within 15 minutes of the server's first start.</p>
            <form method="post" action="/login">
              <input type="hidden" name="next" value={next} />
              <input type="hidden" name="code" value={code} />
              <button type="submit">Log in</button>
            </form>
            <p class="hint">
              Later, log in with an API token: make one on the Tokens page once you are in, or use the one in <code>data/bootstrap-token</code>.
            </p>
          </>
        ) : (
          <>
            <p>
              Paste an API token. A new server writes one to <code>data/bootstrap-token</code> and prints a one-time login link.
            </p>
            <form method="post" action="/login">
              <input type="hidden" name="next" value={next} />
              <label for="token">API token</label>
              <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
              <button type="submit">Log in</button>
            </form>
          </>
        )}
      </section>
    </Page>
  );
}
