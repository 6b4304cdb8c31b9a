// Queries for people who sign in through an identity provider, and for the tokens that
// belong to them (their sign-in sessions' tokens and their personal tokens).
import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { tokens, users } from "../schema/index.ts";
import { prepared } from "../prepared.ts";

export type UserRow = typeof users.$inferSelect;

export interface SignedInProfile {
  provider: "oidc" | "github";
  /** Which provider of the kind (the OIDC issuer, GitHub's host): the same subject elsewhere is another person. */
  issuer?: string;
  subject: string;
  name: string;
  login?: string;
  email?: string;
  avatarUrl?: string;
  /** The groups (or GitHub org/teams) the provider named, and the roles they map to. */
  groups: string[];
  mappedRoles: string[];
}

/**
 * Records a sign-in: a new person is added, a known one gets the provider's current name,
 * groups and mapped roles (a group removed at the provider takes its role away now). Roles
 * an admin granted stay. A disabled person stays disabled: the caller refuses the sign-in.
 */
export async function recordSignIn(db: Db, profile: SignedInProfile, id: string, now: Date): Promise<UserRow> {
  const fields = {
    name: profile.name,
    login: profile.login ?? null,
    email: profile.email ?? null,
    avatarUrl: profile.avatarUrl ?? null,
    groups: profile.groups,
    mappedRoles: profile.mappedRoles,
    lastSignInAt: now,
  };
  const [row] = await db
    .insert(users)
    .values({ id, provider: profile.provider, issuer: profile.issuer ?? "", subject: profile.subject, grantedRoles: [], createdAt: now, ...fields })
    .onConflictDoUpdate({ target: [users.provider, users.issuer, users.subject], set: fields })
    .returning();
  return row!;
}

// Read for every request a person's token or web session makes: built once.
const userQuery = prepared((db) => db.select().from(users).where(eq(users.id, sql.placeholder("id"))).limit(1).prepare());

export async function getUser(db: Db, id: string): Promise<UserRow | undefined> {
  const [row] = await userQuery(db).all({ id });
  return row;
}

export async function listUsers(db: Db): Promise<UserRow[]> {
  return db.select().from(users).orderBy(asc(users.name), asc(users.createdAt));
}

/** Disables (or, with `at` null, enables) a person; returns the row, or undefined if there is none. */
export async function setUserDisabled(db: Db, id: string, at: Date | null, by: string | null): Promise<UserRow | undefined> {
  const [row] = await db.update(users).set({ disabledAt: at, disabledBy: at ? by : null }).where(eq(users.id, id)).returning();
  return row;
}

export async function setGrantedRoles(db: Db, id: string, roles: string[]): Promise<UserRow | undefined> {
  const [row] = await db.update(users).set({ grantedRoles: roles }).where(eq(users.id, id)).returning();
  return row;
}

/** Revokes every live token of a person (sign-in sessions' and personal ones); returns how many. */
export async function revokeUserTokens(db: Db, userId: string, now: Date): Promise<number> {
  const rows = await db
    .update(tokens)
    .set({ revokedAt: now })
    .where(and(eq(tokens.userId, userId), isNull(tokens.revokedAt)))
    .returning({ id: tokens.id });
  return rows.length;
}

/** Gives a person's live sign-in tokens their current roles (after an admin grants or revokes one). */
export async function setSignInTokenRoles(db: Db, userId: string, roles: string[]): Promise<number> {
  const rows = await db
    .update(tokens)
    .set({ roles })
    .where(and(eq(tokens.userId, userId), eq(tokens.signIn, true), isNull(tokens.revokedAt)))
    .returning({ id: tokens.id });
  return rows.length;
}
