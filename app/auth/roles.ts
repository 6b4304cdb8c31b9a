// Roles: the built-in admin and viewer, custom roles from the database (changed only within
// the changer's own rights), and the check every API route makes. A denial names the missing permission.
import type { Context } from "hono";
import type { Db } from "../db/client.ts";
import { deleteRole, getRole, getRoles, listRoles, upsertRole, type RoleRow } from "../db/repos/roles.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { ownerOf } from "./tokens.ts";
import { actorName } from "./users.ts";
import { effectiveRoles } from "../domain/user-roles.ts";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../domain/errors.ts";
import { allows, allowsSome, covers, SERVER_TARGET, type Action, type Permission, type Resource } from "../domain/permissions.ts";

export const BUILT_IN_ROLES: Record<string, { description: string; permissions: Permission[] }> = {
  admin: { description: "Everything", permissions: [{ resource: "*", target: ".*", actions: ["read", "write", "approve", "exec"] }] },
  viewer: { description: "Read everything but secrets' values (which nobody can read)", permissions: [{ resource: "*", target: ".*", actions: ["read"] }] },
};

export function isBuiltInRole(id: string): boolean {
  return Object.hasOwn(BUILT_IN_ROLES, id);
}

/** Who changes roles: the calling token and everything it may do. */
export interface RoleEditor {
  token: TokenRow;
  permissions: readonly Permission[];
}

/** The first permission of `wanted` that `held` does not cover, as "resource:action on target". */
export function firstUncovered(held: readonly Permission[], wanted: readonly Permission[]): string | undefined {
  for (const permission of wanted) {
    const action = permission.actions.find((one) => !covers(held, { ...permission, actions: [one] }));
    if (action) return `${permission.resource}:${action} on ${permission.target}`;
  }
  return undefined;
}

/**
 * The rules of every role change, as for issuing tokens: nobody edits or deletes a role their
 * own token holds (that is how roles:write became admin), nobody grants what they do not hold,
 * and nobody reshapes a role that reaches beyond them (it belongs to someone with more rights).
 */
async function checkRoleChange(db: Db, editor: RoleEditor, id: string, verb: "change" | "delete"): Promise<RoleRow | undefined> {
  if (isBuiltInRole(id)) throw new ConflictError(`role ${id} is built in and cannot be ${verb === "change" ? "changed" : "deleted"}`);
  if (editor.token.roles.includes(id)) {
    throw new ForbiddenError(`cannot ${verb} role ${id}: the calling token "${editor.token.name}" holds it, and no token may ${verb} its own roles`);
  }
  const existing = await getRole(db, id);
  const beyond = existing && firstUncovered(editor.permissions, existing.permissions);
  if (beyond) throw new ForbiddenError(`cannot ${verb} role ${id}: it grants ${beyond}, which the calling token does not have`);
  return existing;
}

/** Creates or replaces a custom role (API and web alike) within the editor's own rights; built-in roles cannot change. */
export async function saveRole(
  db: Db,
  editor: RoleEditor,
  id: string,
  role: { description: string; permissions: Permission[] },
  now: Date,
): Promise<{ role: RoleRow; created: boolean }> {
  await checkRoleChange(db, editor, id, "change");
  const beyond = firstUncovered(editor.permissions, role.permissions);
  if (beyond) throw new ForbiddenError(`cannot grant ${beyond} in role ${id}: the calling token does not have it`);
  return upsertRole(db, { id, description: role.description, permissions: role.permissions, updatedAt: now, now });
}

/** Deletes a custom role the editor may change; built-in roles cannot be deleted. */
export async function removeRole(db: Db, editor: RoleEditor, id: string): Promise<void> {
  if (!(await checkRoleChange(db, editor, id, "delete"))) throw new NotFoundError(`role ${id} not found`);
  if (!(await deleteRole(db, id))) throw new NotFoundError(`role ${id} not found`);
}

/**
 * The check of handing roles to a token or a person: every role must exist (ValidationError
 * naming the known ones) and grant nothing `held` does not cover (ForbiddenError naming it).
 */
export async function checkGrantable(db: Db, held: readonly Permission[], roleIds: readonly string[], who = "the calling token"): Promise<void> {
  const custom = await getRoles(db, roleIds.filter((role) => !isBuiltInRole(role)));
  const unknown = roleIds.filter((role) => !isBuiltInRole(role) && !custom.some((row) => row.id === role));
  if (unknown.length) {
    const all = [...Object.keys(BUILT_IN_ROLES), ...(await listRoles(db)).map((row) => row.id)];
    throw new ValidationError(`unknown role ${unknown.join(", ")}: roles are ${all.join(", ")} or one made with PUT /roles/:id`);
  }
  // No escalation: nobody hands out what they may not do themselves.
  const beyond = firstUncovered(held, rolePermissions(roleIds, custom));
  if (beyond) throw new ForbiddenError(`cannot grant ${beyond}: ${who} does not have it`);
}

/** What these roles grant: the built-in ones' permissions and those of `customRows`, the custom ones' rows. */
export function rolePermissions(roleIds: readonly string[], customRows: readonly RoleRow[]): Permission[] {
  const builtIn = roleIds.filter(isBuiltInRole).flatMap((id) => BUILT_IN_ROLES[id]!.permissions);
  return [...builtIn, ...customRows.flatMap((role) => role.permissions)];
}

/**
 * Everything a token may do: its roles' permissions and its own. A personal token holds only
 * those of its roles its person still holds: a role lost at the provider or revoked by an
 * admin leaves their tokens too.
 */
export async function permissionsOf(db: Db, token: TokenRow): Promise<Permission[]> {
  const { roles } = await tokenHolder(db, token);
  const custom = await getRoles(db, roles.filter((id) => !isBuiltInRole(id)));
  return [...rolePermissions(roles, custom), ...(token.permissions ?? [])];
}

/** Who acts with a token: a name to show and the roles it holds now. */
export interface TokenHolder {
  /** A personal token's person (by their name, not the token's, which they chose); otherwise the token's name. */
  name: string;
  /** The token's roles; for a personal token only those its person still holds. */
  roles: string[];
}

export async function tokenHolder(db: Db, token: TokenRow): Promise<TokenHolder> {
  // A sign-in token is named after its person by the server already.
  if (!token.userId || token.signIn) return { name: token.name, roles: token.roles };
  const owner = await ownerOf(db, token);
  const held = new Set(owner && !owner.disabledAt ? effectiveRoles(owner) : []);
  return { name: owner ? actorName(owner) : token.name, roles: token.roles.filter((role) => held.has(role)) };
}

export interface PermissionContext {
  Variables: { token: TokenRow; permissions: Permission[] };
}

/** Whether the caller may act; for filtering lists. */
export function may<E extends PermissionContext>(c: Context<E>, resource: Resource, action: Action, target = SERVER_TARGET): boolean {
  return allows(c.get("permissions"), resource, action, target);
}

/** Whether the caller may act on some target of `resource`: whether a page offers a form whose target is typed in. */
export function maySome<E extends PermissionContext>(c: Context<E>, resource: Resource, action: Action): boolean {
  return allowsSome(c.get("permissions"), resource, action);
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
