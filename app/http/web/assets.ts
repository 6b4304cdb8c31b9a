// Static assets, embedded in the single binary. The small ones are imported as text; Swagger
// UI's 2 MB (the API reference's page alone uses it) as files, read when asked for: held as
// strings they were ~10 MiB of an idle server's memory. The style sheet is one file to the
// browser, kept as one file per area in public/.
import { Hono } from "hono";
import baseCss from "../../../public/app.css" with { type: "text" };
import dashboardCss from "../../../public/dashboard.css" with { type: "text" };
import pipelinesCss from "../../../public/pipelines.css" with { type: "text" };
import runsCss from "../../../public/runs.css" with { type: "text" };
import adminCss from "../../../public/admin.css" with { type: "text" };
import inputsApprovalsCss from "../../../public/inputs-approvals.css" with { type: "text" };
import findingsCss from "../../../public/findings.css" with { type: "text" };
import faviconSvg from "../../../public/favicon.svg" with { type: "text" };
import gantryJs from "../../../public/gantry.js" with { type: "text" };
import logViewJs from "../../../public/log-view.js" with { type: "text" };
import htmxJs from "../../../node_modules/htmx.org/dist/htmx.min.js" with { type: "text" };
import htmxSseJs from "../../../node_modules/htmx.org/dist/ext/hx-sse.min.js" with { type: "text" };
import apiDocsJs from "../../../public/api-docs.js" with { type: "text" };
import swaggerUiJs from "../../../node_modules/swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import swaggerUiCss from "../../../node_modules/swagger-ui-dist/swagger-ui.css" with { type: "file" };
import { version as swaggerUiVersion } from "../../../node_modules/swagger-ui-dist/package.json";
import type { AppEnv } from "../env.ts";

const CSS = "text/css; charset=utf-8";
const JS = "text/javascript; charset=utf-8";

/** An asset: its text, or (a large one) the path of its file, in the binary or on disk. */
type Asset = { body: string; type: string } | { file: string; type: string };

const ASSETS: Record<string, Asset> = {
  "app.css": { body: [baseCss, dashboardCss, pipelinesCss, runsCss, adminCss, inputsApprovalsCss, findingsCss].join("\n"), type: CSS },
  // One file: htmx may process the page as soon as it runs, so the SSE extension must
  // register in the same script, not in a later one.
  "htmx.js": { body: `${htmxJs}\n${htmxSseJs}`, type: JS },
  "gantry.js": { body: gantryJs, type: JS },
  "favicon.svg": { body: faviconSvg, type: "image/svg+xml" },
  "log-view.js": { body: logViewJs, type: JS },
  // The API reference at /api/docs (swagger-ui-dist).
  "api-docs.js": { body: apiDocsJs, type: JS },
  "swagger-ui.js": { file: swaggerUiJs, type: JS },
  "swagger-ui.css": { file: swaggerUiCss, type: CSS },
};

/** A short hash of the assets (the files' by their package's version), so pages can link `?v=` and browsers cache safely. */
export const ASSET_VERSION = Bun.hash(
  Object.values(ASSETS)
    .map((asset) => ("body" in asset ? asset.body : ""))
    .join("") + `swagger-ui-dist ${swaggerUiVersion}`,
).toString(36);

export const assets = new Hono<AppEnv>().get("/:name", (c) => {
  const asset = ASSETS[c.req.param("name")];
  if (!asset) return c.text("not found", 404);
  const headers = { "content-type": asset.type, "cache-control": "public, max-age=3600" };
  return "body" in asset ? c.body(asset.body, 200, headers) : new Response(Bun.file(asset.file), { headers });
});
