// What an admin does to people (API and web alike): disable, enable, grant and revoke roles,
// each within the admin's own rights, never to themselves, and each written as an event.
import { revokeUserTokens } from "../db/repos/users.ts";
import type { Db } from "../db/client.ts";
import { getRoles } from "../db/repos/roles.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { getUser, type UserRow } from "../db/repos/users.ts";
import { ForbiddenError, NotFoundError, ValidationError } from "../domain/errors.ts";
import type { Permission } from "../domain/permissions.ts";
import { checkGrantable, firstUncovered, isBuiltInRole, rolePermissions } from "./roles.ts";
import { actorName, disableUser, enableUser, grantRoles } from "./users.ts";
import { effectiveRoles } from "../domain/user-roles.ts";
import { recordEvent, type EventSink } from "../engine/record-event.ts";

/** Who changes a person: the calling token (a signed-in person's, or a plain API token) and what it may do. */
export interface UserEditor {
  token: TokenRow;
  permissions: readonly Permission[];
}

export async function requireUser(db: Db, id: string): Promise<UserRow> {
  const user = await getUser(db, id);
  if (!user) throw new NotFoundError(`user ${id} not found`);
  return user;
}

/** The first permission these roles grant that the editor lacks (roles deleted since grant nothing). */
async function beyondEditor(db: Db, editor: UserEditor, roleIds: readonly string[]): Promise<string | undefined> {
  const custom = await getRoles(db, roleIds.filter((id) => !isBuiltInRole(id)));
  return firstUncovered(editor.permissions, rolePermissions(roleIds, custom));
}

/**
 * The rules every change shares: nobody changes themselves (they would lock themselves out, or
 * raise themselves), and nobody changes a person who may do more than they may (as with roles:
 * such a person belongs to someone with more rights).
 */
async function checkChange(db: Db, editor: UserEditor, user: UserRow, verb: string): Promise<void> {
  if (editor.token.userId === user.id) throw new ForbiddenError(`you cannot ${verb} yourself: ask another admin`);
  const beyond = await beyondEditor(db, editor, effectiveRoles(user));
  if (beyond) throw new ForbiddenError(`cannot ${verb} ${actorName(user)}: they hold ${beyond}, which the calling token "${editor.token.name}" does not have`);
}

const eventOf = (user: UserRow, editor: UserEditor) => ({
  user: user.id,
  name: actorName(user),
  by: editor.token.name,
  ...(editor.token.userId && { byUser: editor.token.userId }),
});

/**
 * Disables a person: every token of theirs (sessions, personal tokens) is revoked at once.
 * Disabling twice records nothing new but revokes again (a token a racing sign-in made).
 */
export async function disableUserAs(context: EventSink, editor: UserEditor, id: string, now: Date): Promise<UserRow> {
  const { db } = context;
  const user = await requireUser(db, id);
  await checkChange(db, editor, user, "disable");
  if (user.disabledAt) {
    await revokeUserTokens(db, id, now);
    return user;
  }
  const disabled = await disableUser(db, id, editor.token.name, now);
  await recordEvent(context, { kind: "user.disabled", data: eventOf(disabled, editor), at: now });
  return disabled;
}

/** Enables a person again. Their old tokens stay revoked: they sign in anew and make new ones. */
export async function enableUserAs(context: EventSink, editor: UserEditor, id: string, now: Date): Promise<UserRow> {
  const { db } = context;
  const user = await requireUser(db, id);
  await checkChange(db, editor, user, "enable");
  if (!user.disabledAt) return user;
  const enabled = await enableUser(db, id);
  await recordEvent(context, { kind: "user.enabled", data: eventOf(enabled, editor), at: now });
  return enabled;
}

/** Grants roles (each must exist and grant nothing beyond the editor); live sessions get them at once. */
export async function grantUserRoles(context: EventSink, editor: UserEditor, id: string, roles: string[], now: Date): Promise<UserRow> {
  const { db } = context;
  const user = await requireUser(db, id);
  await checkChange(db, editor, user, "change the roles of");
  await checkGrantable(db, editor.permissions, roles);
  const updated = await grantRoles(db, user, [...user.grantedRoles, ...roles]);
  await recordEvent(context, {
    kind: "user.roles_changed",
    data: { ...eventOf(updated, editor), granted: roles, grantedRoles: updated.grantedRoles, roles: effectiveRoles(updated) },
    at: now,
  });
  return updated;
}

/**
 * Revokes granted roles. A role the provider's groups give cannot be revoked here (the next
 * sign-in would bring it back): the answer says to change the mapping or the groups.
 */
export async function revokeUserRoles(context: EventSink, editor: UserEditor, id: string, roles: string[], now: Date): Promise<UserRow> {
  const { db } = context;
  const user = await requireUser(db, id);
  await checkChange(db, editor, user, "change the roles of");
  const notGranted = roles.filter((role) => !user.grantedRoles.includes(role));
  if (notGranted.length) {
    const mapped = notGranted.filter((role) => user.mappedRoles.includes(role));
    throw new ValidationError(
      mapped.length
        ? `${actorName(user)} holds ${mapped.join(", ")} from their groups at the identity provider, not by a grant: change the role mapping or their groups`
        : `${actorName(user)} was not granted ${notGranted.join(", ")}; granted roles: ${user.grantedRoles.join(", ") || "none"}`,
    );
  }
  // Taking away what one could not hand out is refused too (checkChange covers it: the person holds these roles).
  const updated = await grantRoles(db, user, user.grantedRoles.filter((role) => !roles.includes(role)));
  await recordEvent(context, {
    kind: "user.roles_changed",
    data: { ...eventOf(updated, editor), revoked: roles, grantedRoles: updated.grantedRoles, roles: effectiveRoles(updated) },
    at: now,
  });
  return updated;
}
