// Roles: the built-in admin and viewer, custom roles from the database, and the check every
// API route makes. A denial names the missing permission.
import type { Context } from "hono";
import type { Db } from "../db/client.ts";
import { deleteRole, getRoles, upsertRole, type RoleRow } from "../db/repos/roles.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { ConflictError, ForbiddenError, NotFoundError } from "../domain/errors.ts";
import { allows, SERVER_TARGET, type Action, type Permission, type Resource } from "../domain/permissions.ts";

export const BUILT_IN_ROLES: Record<string, { description: string; permissions: Permission[] }> = {
  admin: { description: "Everything", permissions: [{ resource: "*", target: ".*", actions: ["read", "write"] }] },
  viewer: { description: "Read everything but secrets' values (which nobody can read)", permissions: [{ resource: "*", target: ".*", actions: ["read"] }] },
};

export function isBuiltInRole(id: string): boolean {
  return Object.hasOwn(BUILT_IN_ROLES, id);
}

/** Creates or replaces a custom role (API and web alike); built-in roles cannot change. */
export async function saveRole(
  db: Db,
  id: string,
  role: { description: string; permissions: Permission[] },
  now: Date,
): Promise<{ role: RoleRow; created: boolean }> {
  if (isBuiltInRole(id)) throw new ConflictError(`role ${id} is built in and cannot be changed`);
  return upsertRole(db, { id, description: role.description, permissions: role.permissions, updatedAt: now, now });
}

/** Deletes a custom role; built-in roles cannot be deleted. */
export async function removeRole(db: Db, id: string): Promise<void> {
  if (isBuiltInRole(id)) throw new ConflictError(`role ${id} is built in and cannot be deleted`);
  if (!(await deleteRole(db, id))) throw new NotFoundError(`role ${id} not found`);
}

/** What these roles grant: the built-in ones' permissions and those of `customRows`, the custom ones' rows. */
export function rolePermissions(roleIds: readonly string[], customRows: readonly RoleRow[]): Permission[] {
  const builtIn = roleIds.filter(isBuiltInRole).flatMap((id) => BUILT_IN_ROLES[id]!.permissions);
  return [...builtIn, ...customRows.flatMap((role) => role.permissions)];
}

/** Everything a token may do: its roles' permissions and its own. */
export async function permissionsOf(db: Db, token: TokenRow): Promise<Permission[]> {
  const custom = await getRoles(db, token.roles.filter((id) => !isBuiltInRole(id)));
  return [...rolePermissions(token.roles, custom), ...(token.permissions ?? [])];
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
