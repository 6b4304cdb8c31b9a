// Route middleware that checks a permission before anything else runs (body validation
// included), so a caller without the permission learns nothing but the 403.
import { createMiddleware } from "hono/factory";
import type { Context } from "hono";
import { requirePermission } from "../../auth/roles.ts";
import type { Action, Resource } from "../../domain/permissions.ts";
import type { AppEnv } from "../env.ts";

export function permit(resource: Resource, action: Action, target?: (c: Context<AppEnv>) => string | Promise<string>) {
  return createMiddleware<AppEnv>(async (c, next) => {
    requirePermission(c, resource, action, target ? await target(c) : undefined);
    await next();
  });
}

/** The "<namespace>/<pipeline>" target of a route under /pipelines/:ns/:id. */
export const pipelineTarget = (c: Context<AppEnv>) => `${c.req.param("ns")}/${c.req.param("id")}`;
