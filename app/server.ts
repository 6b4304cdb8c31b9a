// createServer(deps): the Hono app — middleware and routers, nothing else.
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Deps } from "./deps.ts";
import { formatBytes } from "./domain/bytes.ts";
import type { AppEnv } from "./http/env.ts";
import { errorResponse, handleError } from "./http/errors.ts";
import { requireToken } from "./http/middleware/auth.ts";
import { securityHeaders } from "./http/middleware/security-headers.ts";
import { lazyPages } from "./http/web/lazy-pages.ts";
import { apiDocsPages } from "./http/web/api-docs.tsx";
import { badges } from "./http/badges.ts";
import { metricsRoutes } from "./http/metrics.ts";
import { eventsApi } from "./http/api/events.ts";
import { healthApi } from "./http/api/health.ts";
import { openApiRoutes } from "./http/api/openapi.ts";
import { pipelinesApi } from "./http/api/pipelines.ts";
import { runsApi } from "./http/api/runs.ts";
import { logSearchApi } from "./http/api/log-search.ts";
import { taskExecApi } from "./http/api/task-exec.ts";
import { findingsApi } from "./http/api/findings.ts";
import { artifactsApi } from "./http/api/artifacts.ts";
import { bundlesApi } from "./http/api/bundles.ts";
import { tokensApi } from "./http/api/tokens.ts";
import { rolesApi } from "./http/api/roles.ts";
import { usersApi } from "./http/api/users.ts";
import { globalSecretsApi, pipelineSecretsApi } from "./http/api/secrets.ts";
import { pipelineObjectsApi, runObjectsApi } from "./http/api/objects.ts";
import { extensionsApi } from "./http/api/extensions.ts";
import { extensionCallsApi } from "./http/api/extension-calls.ts";
import { subscriptionsApi } from "./http/api/subscriptions.ts";
import { systemApi } from "./http/api/system.ts";
import { approvalsApi } from "./http/api/approvals.ts";
import { sourcesApi } from "./http/api/sources.ts";
import { environmentsApi } from "./http/api/environments.ts";

/** Raw object uploads stream into the store, which stops them at GANTRY_OBJECT_MAX_BYTES itself. */
const API_OBJECT_UPLOAD = /^\/api\/v1\/pipelines\/[^/]+\/[^/]+\/(?:runs\/[^/]+\/)?objects\//;
/** The objects page's multipart upload: the object limit plus room for the form around the file. */
const WEB_OBJECT_UPLOAD = /^\/pipelines\/[^/]+\/[^/]+\/objects\/?$/;
const MULTIPART_SLACK = 64 * 1024;

/**
 * Caps request bodies before anything reads them: JSON and form posts at GANTRY_API_MAX_BODY
 * (a declared size is refused at once, a chunked body once it passes the limit), object
 * uploads at their own limit. Without it one request could store a body every listing repeats.
 */
function bodyLimits(deps: Deps): MiddlewareHandler<AppEnv> {
  const refuse = (limit: number, setting: string) => (c: Context) =>
    errorResponse(c, 413, "payload_too_large", `the request body is over the limit of ${formatBytes(limit)} (${limit} bytes); an admin can raise it with ${setting}`);
  const { apiMaxBody, objectMaxBytes } = deps.config;
  const small = bodyLimit({ maxSize: apiMaxBody, onError: refuse(apiMaxBody, "GANTRY_API_MAX_BODY") });
  const upload = bodyLimit({ maxSize: objectMaxBytes + MULTIPART_SLACK, onError: refuse(objectMaxBytes, "GANTRY_OBJECT_MAX_BYTES") });
  return (c, next) => {
    if (c.req.method === "PUT" && API_OBJECT_UPLOAD.test(c.req.path)) return next();
    if (c.req.method === "POST" && WEB_OBJECT_UPLOAD.test(c.req.path)) return upload(c, next);
    return small(c, next);
  };
}

export function createServer(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("deps", deps);
    await next();
  });
  app.use(securityHeaders);
  app.onError(handleError);
  app.notFound((c) => errorResponse(c, 404, "not_found", `no route for ${c.req.method} ${c.req.path}`));
  app.use(bodyLimits(deps));

  // Badges of public pipelines: no session, no token (badges.ts).
  app.route("/badges", badges);
  // Prometheus' scrape: a token with system:read unless GANTRY_METRICS_PUBLIC=true (metrics.ts).
  app.route("/metrics", metricsRoutes);
  // The web UI, loaded on the first page asked for (lazy-pages.ts).
  app.use(lazyPages(deps).handler);
  app.route("/api/docs", apiDocsPages(app));
  app.route("/api/v1/health", healthApi);
  // Container extensions present their own secret here, not a user token.
  app.route("/api/v1/extensions", extensionCallsApi);
  app.use("/api/v1/*", requireToken);
  app.route("/api/v1/openapi.json", openApiRoutes(app));
  app.route("/api/v1/pipelines", pipelinesApi);
  app.route("/api/v1/pipelines", runsApi);
  // A WebSocket: the Bun server that serves this app must be given hono/bun's websocket handler (start.ts).
  app.route("/api/v1/pipelines", taskExecApi);
  app.route("/api/v1/pipelines", findingsApi);
  app.route("/api/v1/pipelines", logSearchApi);
  app.route("/api/v1/pipelines", artifactsApi);
  app.route("/api/v1/pipelines", bundlesApi);
  app.route("/api/v1/pipelines/:ns/:id/secrets", pipelineSecretsApi);
  app.route("/api/v1/pipelines/:ns/:id/objects", pipelineObjectsApi);
  app.route("/api/v1/pipelines/:ns/:id/runs/:run/objects", runObjectsApi);
  app.route("/api/v1/pipelines/:ns/:id/subscriptions", subscriptionsApi);
  app.route("/api/v1/secrets", globalSecretsApi);
  app.route("/api/v1/events", eventsApi);
  app.route("/api/v1/extensions", extensionsApi);
  app.route("/api/v1/tokens", tokensApi);
  app.route("/api/v1/roles", rolesApi);
  app.route("/api/v1/users", usersApi);
  app.route("/api/v1/system", systemApi);
  app.route("/api/v1/approvals", approvalsApi);
  app.route("/api/v1/sources", sourcesApi);
  app.route("/api/v1/environments", environmentsApi);
  return app;
}
