// /api/docs: the API's interactive reference (Swagger UI, served from /public like every
// asset: no CDN, no inline script) over the OpenAPI document, for signed-in people. The page
// reads the document from /api/docs/openapi.json with its session; "Try it out" calls the API
// with a token pasted into Authorize.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import { documentOf } from "../api/openapi.ts";
import type { AppEnv } from "../env.ts";
import { requireSession } from "../middleware/session.ts";
import { ASSET_VERSION } from "./assets.ts";
import { Page } from "./layouts/page.tsx";
import { pageSession } from "./page-session.ts";

export function apiDocsPages(app: Hono<AppEnv>) {
  const asset = (name: string) => `/public/${name}?v=${ASSET_VERSION}`;
  return new Hono<AppEnv>()
    .get("/", requireSession, async (c) =>
      c.html(
        <Page title="API" session={await pageSession(c)} section="api">
          <h1>API</h1>
          <p class="lead">
            Everything the web UI and the CLI do goes through this JSON API under <code>/api/v1</code>. Calls take a token: <code>Authorization: Bearer gty_…</code> (make
            one under <a href="/tokens">Tokens</a>, then paste it into <strong>Authorize</strong> below to try calls from here). The document is{" "}
            <a href="/api/docs/openapi.json">here</a> (OpenAPI 3.1; for scripts, with a token, at <code>/api/v1/openapi.json</code>); generate a client for your language from it, as the README shows.
          </p>
          <link rel="stylesheet" href={asset("swagger-ui.css")} />
          <div id="api-reference" data-document="/api/docs/openapi.json">
            <noscript>The interactive reference needs JavaScript; the document itself is linked above.</noscript>
          </div>
          <script src={asset("swagger-ui.js")} defer></script>
          <script src={asset("api-docs.js")} defer></script>
        </Page>,
      ),
    )
    .get("/openapi.json", requireSession, async (c) => c.json(await documentOf(app)));
}
