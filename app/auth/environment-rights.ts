// What saving an environment takes beyond environments:write. Its deploys get the global
// secrets it names, on whatever engine it names: naming secrets is handing them out (the
// registry credentials included), so it takes the right to manage global secrets.
import type { Context } from "hono";
import { requirePermission, type PermissionContext } from "./roles.ts";
import type { EnvironmentSettings } from "../domain/environments.ts";
import { secretsNamedBy } from "../domain/provider-configs.ts";

/**
 * Throws ForbiddenError when the settings name secrets (those given to deploys, or one a
 * provider's config names, like a swarm's registryAuth) and the caller may not write global secrets.
 */
export function requireEnvironmentRights<E extends PermissionContext>(c: Context<E>, settings: EnvironmentSettings): void {
  if (settings.secrets.length > 0 || secretsNamedBy(settings.provider, settings.config).length > 0) requirePermission(c, "secrets", "write", "global");
}
