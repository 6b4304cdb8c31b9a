// People behind sign-ins: what roles they hold (the provider's groups mapped, plus those an
// admin granted), the token a sign-in makes to carry their session, and disabling them.
import type { Db } from "../db/client.ts";
import { effectiveRoles } from "../domain/user-roles.ts";
import { recordSignIn, revokeUserTokens, setGrantedRoles, setSignInTokenRoles, setUserDisabled, type SignedInProfile, type UserRow } from "../db/repos/users.ts";
import { createToken } from "./tokens.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { ForbiddenError, NotFoundError } from "../domain/errors.ts";

/** How a person is named on tokens, events and runs: their login or name, and where they signed in. */
export function actorName(user: Pick<UserRow, "name" | "login" | "provider">): string {
  return user.login && user.login !== user.name ? `${user.name} (${user.login})` : user.name;
}

export interface SignInOptions {
  /** The new id, if the person is new (random in production). */
  newId: string;
  /** How long the sign-in's token lives: the session's absolute end. */
  sessionMaxAgeMs: number;
  now: Date;
}

/**
 * Records a sign-in and makes the token that carries the session: named after the person,
 * with their roles now. Throws ForbiddenError for a disabled person: nothing is made.
 */
export async function signIn(db: Db, profile: SignedInProfile, options: SignInOptions): Promise<{ user: UserRow; token: TokenRow }> {
  const user = await recordSignIn(db, profile, options.newId, options.now);
  if (user.disabledAt) throw new ForbiddenError(`${actorName(user)} is disabled; ask an admin to enable them`);
  // The person's other live sessions get the roles their groups give now, too.
  await setSignInTokenRoles(db, user.id, effectiveRoles(user));
  const { token } = await createToken(
    db,
    {
      name: actorName(user),
      roles: effectiveRoles(user),
      userId: user.id,
      signIn: true,
      expiresAt: new Date(options.now.getTime() + options.sessionMaxAgeMs),
    },
    options.now,
  );
  return { user, token };
}

/** Disables a person: their sessions and personal tokens stop at once (their tokens are revoked). */
export async function disableUser(db: Db, id: string, by: string, now: Date): Promise<UserRow> {
  const user = await setUserDisabled(db, id, now, by);
  if (!user) throw new NotFoundError(`no user ${id}`);
  await revokeUserTokens(db, id, now);
  return user;
}

export async function enableUser(db: Db, id: string): Promise<UserRow> {
  const user = await setUserDisabled(db, id, null, null);
  if (!user) throw new NotFoundError(`no user ${id}`);
  return user;
}

/** Sets the roles an admin granted a person; their live sessions get them at once. */
export async function grantRoles(db: Db, user: UserRow, granted: string[]): Promise<UserRow> {
  const updated = await setGrantedRoles(db, user.id, [...new Set(granted)]);
  if (!updated) throw new NotFoundError(`no user ${user.id}`);
  await setSignInTokenRoles(db, user.id, effectiveRoles(updated));
  return updated;
}
