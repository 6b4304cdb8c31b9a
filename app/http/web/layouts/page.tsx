// The HTML document around every page: navigation, skip link, and scripts loaded from
// /public (no inline script or style: the CSP forbids both). Pages read fully without
// JavaScript; htmx and gantry.js only add live updates and conveniences.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";
import { ASSET_VERSION } from "../assets.ts";
import { PausedBanner } from "../components/paused-banner.tsx";
import { SandboxBanner } from "../components/sandbox-banner.tsx";
import type { SandboxStatus } from "../../../engine/executors/run-sandbox.ts";

export type NavSection = "dashboard" | "pipelines" | "sources" | "environments" | "events" | "extensions" | "secrets" | "tokens" | "users" | "api";

/** `when`: an entry shown only to sessions that may read what it lists. */
const NAV: { section: NavSection; href: string; label: string; when?: (session: PageSession) => boolean }[] = [
  { section: "dashboard", href: "/", label: "Dashboard" },
  { section: "pipelines", href: "/pipelines", label: "Pipelines" },
  { section: "sources", href: "/sources", label: "Sources" },
  { section: "environments", href: "/environments", label: "Environments" },
  { section: "events", href: "/events", label: "Events" },
  { section: "extensions", href: "/extensions", label: "Extensions" },
  { section: "secrets", href: "/secrets", label: "Secrets" },
  { section: "tokens", href: "/tokens", label: "Tokens" },
  { section: "users", href: "/users", label: "Users", when: (session) => session.canReadUsers === true },
  { section: "api", href: "/api/docs", label: "API" },
];

export interface PageSession {
  who: string;
  csrfToken: string;
  /** The page's path and query: forms of the layout (Resume runs) come back to it. */
  path: string;
  /** When the page was rendered (the banner's "since"). */
  now: Date;
  /** Whether the session may pause and resume runs (system:write). */
  canPause: boolean;
  /** Whether the session may see people (users:read): the Users entry of the navigation. */
  canReadUsers?: boolean;
  /** Set while runs are paused: every page says so in a banner. */
  paused?: { by: string | null; at: Date | null };
  /** Set while pipeline code is not sandboxed (off, or unavailable): every page warns. */
  sandbox?: SandboxStatus;
}

export interface PageProps {
  title: string;
  children?: Child;
  /** The signed-in token's name and the CSRF token for forms; absent on the login page. */
  session?: PageSession;
  /** Which navigation entry is the current page. */
  section?: NavSection;
}

export function Page({ title, children, session, section }: PageProps) {
  const asset = (name: string) => `/public/${name}?v=${ASSET_VERSION}`;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Gantry`}</title>
        <link rel="icon" href={asset("favicon.svg")} type="image/svg+xml" />
        <link rel="stylesheet" href={asset("app.css")} />
        {session && <meta name="csrf-token" content={session.csrfToken} />}
        {session && <script src={asset("htmx.js")} defer></script>}
        {session && <script src={asset("gantry.js")} defer></script>}
      </head>
      <body>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            Gantry
          </a>
          {session && (
            <nav aria-label="Main">
              <ul class="nav">
                {NAV.filter((item) => !item.when || item.when(session)).map((item) => (
                  <li>
                    <a href={item.href} aria-current={item.section === section ? "page" : undefined}>
                      {item.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          )}
          {session && (
            <form method="post" action="/logout" class="logout">
              <span class="who" title="Signed in with this token">
                {session.who}
              </span>
              <CsrfField session={session} />
              <button type="submit">Log out</button>
            </form>
          )}
        </header>
        <main id="main" tabindex={-1}>
          {session && <SandboxBanner sandbox={session.sandbox} />}
          {session && <PausedBanner session={session} />}
          {children}
        </main>
      </body>
    </html>
  );
}

/** The hidden CSRF field every state-changing form carries. */
export function CsrfField({ session }: { session: PageSession }) {
  return <input type="hidden" name="_csrf" value={session.csrfToken} />;
}
