// Queries for API tokens. Tokens the engine issues to tasks carry their run in their own
// columns (run, task, scope), and run clean-up selects by those alone.
import { and, asc, count, desc, eq, gt, inArray, isNotNull, isNull, lte, not, or, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "../client.ts";
import { tokens } from "../schema/index.ts";
import { driverValue, msOf, prepared } from "../prepared.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";

export type TokenRow = typeof tokens.$inferSelect;
export type NewTokenRow = typeof tokens.$inferInsert;

const P = sql.placeholder;
/** Every column given (nullable ones as the driver stores them), so one built insert serves every token: a run issues one per task. */
const insertQuery = prepared((db) =>
  db
    .insert(tokens)
    .values({
      id: P("id"),
      name: P("name"),
      hash: P("hash"),
      roles: P("roles"),
      permissions: driverValue("permissions"),
      run: P("run"),
      task: P("task"),
      scope: P("scope"),
      userId: P("userId"),
      signIn: P("signIn"),
      createdAt: P("createdAt"),
      expiresAt: driverValue("expiresAt"),
      revokedAt: driverValue("revokedAt"),
      lastUsedAt: driverValue("lastUsedAt"),
    })
    .returning()
    .prepare(),
);

export async function insertToken(db: DbOrTx, token: typeof tokens.$inferInsert): Promise<TokenRow> {
  const [row] = await insertQuery(db).all({
    id: token.id,
    name: token.name,
    hash: token.hash,
    roles: token.roles,
    permissions: token.permissions == null ? null : JSON.stringify(token.permissions),
    run: token.run ?? null,
    task: token.task ?? null,
    scope: token.scope ?? null,
    userId: token.userId ?? null,
    signIn: token.signIn ?? false,
    createdAt: token.createdAt,
    expiresAt: msOf(token.expiresAt),
    revokedAt: msOf(token.revokedAt),
    lastUsedAt: msOf(token.lastUsedAt),
  });
  return row!;
}

// Every authenticated request looks its token up.
const byHashQuery = prepared((db) => db.select().from(tokens).where(eq(tokens.hash, P("hash"))).limit(1).prepare());

export async function findTokenByHash(db: Db, hash: string): Promise<TokenRow | undefined> {
  const [row] = await byHashQuery(db).all({ hash });
  return row;
}

const byIdQuery = prepared((db) => db.select().from(tokens).where(eq(tokens.id, P("id"))).limit(1).prepare());

/** Read for every page of a signed-in person (the session's token). */
export async function getToken(db: Db, id: string): Promise<TokenRow | undefined> {
  const [row] = await byIdQuery(db).all({ id });
  return row;
}

/**
 * Token lists leave out the tokens sign-ins make: each carries one person's web session (its
 * secret is never shown), so listing them would only add a row per sign-in. Ending a session
 * is logging out, or disabling the person.
 */
const listed = eq(tokens.signIn, false);

/** Every token but sign-in ones, oldest first. */
export async function listTokens(db: Db): Promise<TokenRow[]> {
  return db.select().from(tokens).where(listed).orderBy(asc(tokens.createdAt));
}

const activeAt = (now: Date) => and(isNull(tokens.revokedAt), or(isNull(tokens.expiresAt), gt(tokens.expiresAt, now)));
const inactiveAt = (now: Date) => not(activeAt(now)!);

/** Tokens neither revoked nor expired (sign-in ones left out), newest first. */
export async function listActiveTokens(db: Db, now: Date): Promise<TokenRow[]> {
  return db.select().from(tokens).where(and(listed, activeAt(now))).orderBy(desc(tokens.createdAt));
}

/** The newest revoked or expired tokens (every run leaves one; sign-in ones left out), and how many there are. */
export async function listInactiveTokens(db: Db, now: Date, limit: number): Promise<{ rows: TokenRow[]; total: number }> {
  const rows = await db.select().from(tokens).where(and(listed, inactiveAt(now))).orderBy(desc(tokens.createdAt)).limit(limit);
  const [total] = await db.select({ n: count() }).from(tokens).where(and(listed, inactiveAt(now)));
  return { rows, total: total?.n ?? 0 };
}

/** A person's live personal tokens (not their sessions' sign-in tokens), newest first. */
export async function listPersonalTokens(db: Db, userId: string, now: Date): Promise<TokenRow[]> {
  return db
    .select()
    .from(tokens)
    .where(and(listed, eq(tokens.userId, userId), activeAt(now)))
    .orderBy(desc(tokens.createdAt));
}

export async function countTokens(db: DbOrTx): Promise<number> {
  const [row] = await db.select({ n: count() }).from(tokens);
  return row?.n ?? 0;
}

/** Each task's token is revoked at its end. */
const revokeQuery = prepared((db) => db.update(tokens).set({ revokedAt: driverValue("now") }).where(eq(tokens.id, P("id"))).returning({ id: tokens.id }).prepare());

export async function revokeToken(db: Db, id: string, now: Date): Promise<boolean> {
  const rows = await revokeQuery(db).all({ id, now: now.getTime() });
  return rows.length > 0;
}

/** Deletes run tokens revoked before the given time (every run leaves some); returns how many. */
export async function deleteRevokedRunTokens(db: Db, revokedBefore: Date): Promise<number> {
  // Only tokens the engine issued carry a run: a person's revoked token stays on record, whatever its name.
  const rows = await db
    .delete(tokens)
    .where(and(isNotNull(tokens.run), lte(tokens.revokedAt, revokedBefore)))
    .returning({ id: tokens.id });
  return rows.length;
}

/** The display name of a token issued to a task of a run: "run <ns>/<id>#<run> <task>" (never used to find one). */
export const runTokenName = (run: RunKey, task: string) => `run ${runKeyString(run)} ${task}`;

// Every run revokes its tasks' tokens as it ends.
const revokeRunQuery = prepared((db) =>
  db
    .update(tokens)
    .set({ revokedAt: driverValue("now") })
    .where(and(eq(tokens.run, P("run")), isNull(tokens.revokedAt)))
    .returning({ id: tokens.id })
    .prepare(),
);

/** Revokes every live token issued to the run's tasks, whichever process issued them. */
export async function revokeRunTokensOf(db: Db, run: RunKey, now: Date): Promise<number> {
  const rows = await revokeRunQuery(db).all({ run: runKeyString(run), now: now.getTime() });
  return rows.length;
}

/**
 * Revokes the live run tokens (those the engine issued to tasks) of runs that are not
 * unfinished. Used at start: tokens of runs that ended while no server watched die too,
 * those of runs that will be resumed stay (a re-attached container still uses its).
 */
export async function revokeRunTokens(db: Db, now: Date, unfinished: Set<string>): Promise<number> {
  const live = await db
    .select({ id: tokens.id, run: tokens.run })
    .from(tokens)
    .where(and(isNotNull(tokens.run), isNull(tokens.revokedAt)));
  const ended = live.filter((token) => !unfinished.has(token.run!)).map((token) => token.id);
  for (let start = 0; start < ended.length; start += 500) {
    await db.update(tokens).set({ revokedAt: now }).where(inArray(tokens.id, ended.slice(start, start + 500)));
  }
  return ended.length;
}
