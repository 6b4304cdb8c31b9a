// The login page: paste an API token to get a session.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Page } from "../layouts/page.tsx";

export function LoginPage({ next, error }: { next: string; error?: string }) {
  return (
    <Page title="Log in">
      <section class="card narrow">
        <h1>Log in</h1>
        <p>
          Paste an API token. A new server writes one to <code>data/bootstrap-token</code> and prints a login link.
        </p>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <form method="post" action="/login">
          <input type="hidden" name="next" value={next} />
          <label for="token">API token</label>
          <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
          <button type="submit">Log in</button>
        </form>
      </section>
    </Page>
  );
}
