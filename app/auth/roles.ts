// Roles: the built-in admin and viewer, custom roles from the database, and the check every
// API route makes. A denial names the missing permission.
import type { Context } from "hono";
import type { Db } from "../db/client.ts";
import { getRoles } from "../db/repos/roles.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { ForbiddenError } from "../domain/errors.ts";
import { allows, SERVER_TARGET, type Action, type Permission, type Resource } from "../domain/permissions.ts";

export const BUILT_IN_ROLES: Record<string, { description: string; permissions: Permission[] }> = {
  admin: { description: "Everything", permissions: [{ resource: "*", target: ".*", actions: ["read", "write"] }] },
  viewer: { description: "Read everything but secrets' values (which nobody can read)", permissions: [{ resource: "*", target: ".*", actions: ["read"] }] },
};

export function isBuiltInRole(id: string): boolean {
  return Object.hasOwn(BUILT_IN_ROLES, id);
}

/** Everything a token may do: its roles' permissions and its own. */
export async function permissionsOf(db: Db, token: TokenRow): Promise<Permission[]> {
  const builtIn = token.roles.filter(isBuiltInRole).flatMap((id) => BUILT_IN_ROLES[id]!.permissions);
  const custom = (await getRoles(db, token.roles.filter((id) => !isBuiltInRole(id)))).flatMap((role) => role.permissions);
  return [...builtIn, ...custom, ...(token.permissions ?? [])];
}

interface PermissionContext {
  Variables: { token: TokenRow; permissions: Permission[] };
}

/** Whether the caller may act; for filtering lists. */
export function may<E extends PermissionContext>(c: Context<E>, resource: Resource, action: Action, target = SERVER_TARGET): boolean {
  return allows(c.get("permissions"), resource, action, target);
}

/** Throws ForbiddenError (403) naming the missing permission. */
export function requirePermission<E extends PermissionContext>(
  c: Context<E>,
  resource: Resource,
  action: Action,
  target = SERVER_TARGET,
): void {
  if (!may(c, resource, action, target)) {
    throw new ForbiddenError(`token "${c.get("token").name}" lacks permission ${resource}:${action} on ${target}`);
  }
}
