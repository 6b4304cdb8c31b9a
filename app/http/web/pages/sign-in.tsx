// What a sign-in through a provider shows: a refusal (with the way back to /login), or the
// short page that takes a signed-in browser on to where it was going.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Page } from "../layouts/page.tsx";

export function SignInErrorPage({ provider, message }: { provider: string; message: string }) {
  return (
    <Page title="Sign-in failed">
      <section class="card narrow">
        <h1>Sign-in failed</h1>
        <p class="error" role="alert">
          {`Signing in with ${provider} did not work: ${message}.`}
        </p>
        <p>
          <a href="/login">Back to log in</a>
        </p>
      </section>
    </Page>
  );
}

/**
 * The session cookie is SameSite=Strict, and a browser arriving from the provider is still
 * on a cross-site navigation: a redirect would reach `next` without the cookie. This page
 * moves on by itself, from our own site, so the next request carries it.
 */
export function SignedInPage({ who, next }: { who: string; next: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta http-equiv="refresh" content={`0;url=${next}`} />
        <title>Signed in · Gantry</title>
      </head>
      <body>
        <p>
          {`Signed in as ${who}. `}
          <a href={next}>Continue</a>
        </p>
      </body>
    </html>
  );
}
