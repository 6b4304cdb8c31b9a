// createServer(deps): the Hono app — middleware and routers, nothing else.
import { Hono } from "hono";
import type { Deps } from "./deps.ts";
import type { AppEnv } from "./http/env.ts";
import { errorResponse, handleError } from "./http/errors.ts";
import { requireToken } from "./http/middleware/auth.ts";
import { securityHeaders } from "./http/middleware/security-headers.ts";
import { webPages } from "./http/web/index.ts";
import { eventsApi } from "./http/api/events.ts";
import { healthApi } from "./http/api/health.ts";
import { openApi } from "./http/api/openapi.ts";
import { pipelinesApi } from "./http/api/pipelines.ts";
import { runsApi } from "./http/api/runs.ts";
import { tokensApi } from "./http/api/tokens.ts";
import { rolesApi } from "./http/api/roles.ts";
import { globalSecretsApi, pipelineSecretsApi } from "./http/api/secrets.ts";
import { pipelineObjectsApi, runObjectsApi } from "./http/api/objects.ts";
import { extensionsApi } from "./http/api/extensions.ts";
import { extensionCallsApi } from "./http/api/extension-calls.ts";
import { subscriptionsApi } from "./http/api/subscriptions.ts";
import { systemApi } from "./http/api/system.ts";

export function createServer(deps: Deps) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("deps", deps);
    await next();
  });
  app.use(securityHeaders);
  app.onError(handleError);
  app.notFound((c) => errorResponse(c, 404, "not_found", `no route for ${c.req.method} ${c.req.path}`));

  app.route("/", webPages);
  app.route("/api/v1/health", healthApi);
  // Container extensions present their own secret here, not a user token.
  app.route("/api/v1/extensions", extensionCallsApi);
  app.use("/api/v1/*", requireToken);
  app.route("/api/v1/openapi.json", openApi);
  app.route("/api/v1/pipelines", pipelinesApi);
  app.route("/api/v1/pipelines", runsApi);
  app.route("/api/v1/pipelines/:ns/:id/secrets", pipelineSecretsApi);
  app.route("/api/v1/pipelines/:ns/:id/objects", pipelineObjectsApi);
  app.route("/api/v1/pipelines/:ns/:id/runs/:run/objects", runObjectsApi);
  app.route("/api/v1/pipelines/:ns/:id/subscriptions", subscriptionsApi);
  app.route("/api/v1/secrets", globalSecretsApi);
  app.route("/api/v1/events", eventsApi);
  app.route("/api/v1/extensions", extensionsApi);
  app.route("/api/v1/tokens", tokensApi);
  app.route("/api/v1/roles", rolesApi);
  app.route("/api/v1/system", systemApi);
  return app;
}
