// Queries for API tokens.
import { and, asc, count, desc, eq, gt, inArray, isNull, like, lte, not, or, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { tokens } from "../schema/index.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";

export type TokenRow = typeof tokens.$inferSelect;
export type NewTokenRow = typeof tokens.$inferInsert;

export async function insertToken(db: Db, token: typeof tokens.$inferInsert): Promise<TokenRow> {
  const [row] = await db.insert(tokens).values(token).returning();
  return row!;
}

export async function findTokenByHash(db: Db, hash: string): Promise<TokenRow | undefined> {
  return db.query.tokens.findFirst({ where: eq(tokens.hash, hash) });
}

export async function getToken(db: Db, id: string): Promise<TokenRow | undefined> {
  return db.query.tokens.findFirst({ where: eq(tokens.id, id) });
}

export async function listTokens(db: Db): Promise<TokenRow[]> {
  return db.select().from(tokens).orderBy(asc(tokens.createdAt));
}

const activeAt = (now: Date) => and(isNull(tokens.revokedAt), or(isNull(tokens.expiresAt), gt(tokens.expiresAt, now)));
const inactiveAt = (now: Date) => not(activeAt(now)!);

/** Tokens neither revoked nor expired, newest first. */
export async function listActiveTokens(db: Db, now: Date): Promise<TokenRow[]> {
  return db.select().from(tokens).where(activeAt(now)).orderBy(desc(tokens.createdAt));
}

/** The newest revoked or expired tokens (every run leaves one), and how many there are. */
export async function listInactiveTokens(db: Db, now: Date, limit: number): Promise<{ rows: TokenRow[]; total: number }> {
  const rows = await db.select().from(tokens).where(inactiveAt(now)).orderBy(desc(tokens.createdAt)).limit(limit);
  const [total] = await db.select({ n: count() }).from(tokens).where(inactiveAt(now));
  return { rows, total: total?.n ?? 0 };
}

export async function countTokens(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(tokens);
  return row?.n ?? 0;
}

export async function revokeToken(db: Db, id: string, now: Date): Promise<boolean> {
  const rows = await db.update(tokens).set({ revokedAt: now }).where(eq(tokens.id, id)).returning({ id: tokens.id });
  return rows.length > 0;
}

/** Deletes run tokens revoked before the given time (every run leaves some); returns how many. */
export async function deleteRevokedRunTokens(db: Db, revokedBefore: Date): Promise<number> {
  const rows = await db
    .delete(tokens)
    .where(and(lte(tokens.revokedAt, revokedBefore), eq(tokens.roles, sql`'[]'`), like(tokens.name, "run %")))
    .returning({ id: tokens.id });
  return rows.length;
}

/** The name of a token issued to a task of a run: "run <ns>/<id>#<run> <task>". */
export const runTokenName = (run: RunKey, task: string) => `run ${runKeyString(run)} ${task}`;

/** Revokes every live token issued to the run's tasks, whichever process issued them. */
export async function revokeRunTokensOf(db: Db, run: RunKey, now: Date): Promise<number> {
  // Namespaces and ids are [a-z0-9-]: nothing in the prefix is a LIKE wildcard.
  const rows = await db
    .update(tokens)
    .set({ revokedAt: now })
    .where(and(isNull(tokens.revokedAt), eq(tokens.roles, sql`'[]'`), like(tokens.name, `${runTokenName(run, "")}%`)))
    .returning({ id: tokens.id });
  return rows.length;
}

/**
 * Revokes the live run tokens (issued to tasks: no roles, named "run ...") of runs that are
 * not unfinished. Used at start: tokens of runs that ended while no server watched die
 * too, those of runs that will be resumed stay (a re-attached container still uses its).
 */
export async function revokeRunTokens(db: Db, now: Date, unfinished: Set<string>): Promise<number> {
  const live = await db
    .select({ id: tokens.id, name: tokens.name })
    .from(tokens)
    .where(and(isNull(tokens.revokedAt), eq(tokens.roles, sql`'[]'`), like(tokens.name, "run %")));
  const ended = live.filter((token) => !unfinished.has(token.name.slice("run ".length).split(" ")[0] ?? "")).map((token) => token.id);
  for (let start = 0; start < ended.length; start += 500) {
    await db.update(tokens).set({ revokedAt: now }).where(inArray(tokens.id, ended.slice(start, start + 500)));
  }
  return ended.length;
}
