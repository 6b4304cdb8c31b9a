// The HTML document around every page: no inline script or style (the CSP forbids both).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";

export interface PageProps {
  title: string;
  children?: Child;
  /** The signed-in token's name and the CSRF token for forms; absent on the login page. */
  session?: { who: string; csrfToken: string };
}

export function Page({ title, children, session }: PageProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Gantry`}</title>
        <link rel="stylesheet" href="/public/app.css" />
        {session && <meta name="csrf-token" content={session.csrfToken} />}
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">
            Gantry
          </a>
          {session && (
            <form method="post" action="/logout" class="logout">
              <span>{session.who}</span>
              <input type="hidden" name="_csrf" value={session.csrfToken} />
              <button type="submit">Log out</button>
            </form>
          )}
        </header>
        <main id="main">{children}</main>
      </body>
    </html>
  );
}
