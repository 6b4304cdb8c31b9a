// /api/v1/openapi.json: the API described from the routes themselves: each route's doc()
// (route-doc.ts) and its request validators (validate.ts), walked by hono-openapi.
import { Hono } from "hono";
import { generateSpecs } from "hono-openapi";
import * as v from "valibot";
import { GANTRY_VERSION } from "../../version.ts";
import type { AppEnv } from "../env.ts";
import { OPTIONAL_BODY } from "../validate.ts";
import { doc } from "./route-doc.ts";

const PREFIX = "/api/v1";

/** The OpenAPI 3.1 document of the app's /api/v1 routes. */
export async function openApiDocument(app: Hono<AppEnv>) {
  const specs = await generateSpecs(app, {
    documentation: {
      info: {
        title: "Gantry API",
        version: GANTRY_VERSION,
        description:
          "Gantry's JSON API. Every route but GET /health needs `Authorization: Bearer <token>` (a token from `gantry token create` or the web UI); what a token may do comes from its roles. Errors answer `{ error: { code, message } }`.",
      },
      servers: [{ url: PREFIX }],
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "a Gantry token (gty_…)" },
          extensionSecret: { type: "http", scheme: "bearer", description: "a container extension's GANTRY_EXTENSION_SECRET" },
        },
      },
      security: [{ bearer: [] }],
    },
    // "/openapi.json" is a route, not a static file; errors are documented by each route.
    excludeStaticFile: false,
    defaultValidationErrorResponse: false,
  });
  const paths = Object.fromEntries(
    Object.entries(specs.paths ?? {})
      .filter(([path]) => path.startsWith(`${PREFIX}/`))
      .map(([prefixed, operations]) => {
        const path = prefixed.slice(PREFIX.length);
        const tags = [tagOf(path)];
        const tagged = Object.fromEntries(
          Object.entries(operations as Record<string, { operationId?: string }>).map(([method, operation]) => [
            method,
            // Ids without the prefix every path shares: getPipelinesByNsByIdRuns.
            { ...operation, tags, ...(operation.operationId && { operationId: operation.operationId.replace("ApiV1", "") }) },
          ]),
        );
        return [path, tagged];
      }),
  );
  // hono-openapi calls every validated body required; one its schema lets go ({}) is not.
  for (const route of app.routes) {
    if (!(OPTIONAL_BODY in route.handler) || !route.path.startsWith(`${PREFIX}/`)) continue;
    const path = route.path.slice(PREFIX.length).replace(/:(\w+)(\{[^}]*\})?/g, "{$1}");
    const body = (paths[path] as Record<string, { requestBody?: { required?: boolean } }> | undefined)?.[route.method.toLowerCase()]?.requestBody;
    if (body) body.required = false;
  }
  return { ...specs, paths };
}

/** What a path is about, to group the reference by: its innermost resource below a pipeline or run, else its first segment. */
function tagOf(path: string): string {
  const inner = /\/(runs|secrets|objects|subscriptions|artifacts|caches|findings|versions)\b/.exec(path.replace(/^\/pipelines\/\{ns\}\/\{id\}\/runs\/\{run\}\/(objects|artifacts|findings)/, "/$1"))?.[1];
  if (path.startsWith("/pipelines/") && inner) return inner === "caches" ? "artifacts" : inner === "versions" ? "pipelines" : inner;
  return path.split("/")[1]!.replace(".json", "");
}

const documents = new WeakMap<Hono<AppEnv>, ReturnType<typeof openApiDocument>>();

/** The document of `app`, made once (its routes do not change once it serves). */
export function documentOf(app: Hono<AppEnv>): ReturnType<typeof openApiDocument> {
  let made = documents.get(app);
  if (!made) {
    made = openApiDocument(app);
    documents.set(app, made);
    // A failure is not kept: the next request tries again.
    made.catch(() => documents.delete(app));
  }
  return made;
}

/** The document as its own route describes it: an OpenAPI 3.1 document (checked in full by an OpenAPI validator in the tests). */
const documentAnswer = v.looseObject({
  openapi: v.string(),
  info: v.looseObject({ title: v.string(), version: v.string() }),
  paths: v.record(v.string(), v.record(v.string(), v.unknown())),
});

/** Serves the document of `app`. */
export function openApiRoutes(app: Hono<AppEnv>) {
  return new Hono<AppEnv>().get("/", doc({ summary: "This document (OpenAPI 3.1)", response: documentAnswer }), async (c) =>
    c.json(await documentOf(app)),
  );
}
