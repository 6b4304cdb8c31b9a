// Queries for one-time login codes (the first-start link): stored as hashes, taken at most once.
import { and, eq, gt, isNull, lte, or } from "drizzle-orm";
import type { Db } from "../client.ts";
import { loginCodes } from "../schema/index.ts";

export type LoginCodeRow = typeof loginCodes.$inferSelect;

export async function insertLoginCode(db: Db, row: LoginCodeRow): Promise<void> {
  await db.insert(loginCodes).values(row);
}

export async function getLoginCode(db: Db, hash: string): Promise<LoginCodeRow | undefined> {
  return db.query.loginCodes.findFirst({ where: eq(loginCodes.hash, hash) });
}

/**
 * Marks the code used if it is unused and unexpired, in one conditional update, so two
 * requests racing with the same code cannot both win. Returns the row it took, or undefined.
 */
export async function takeLoginCode(db: Db, hash: string, now: Date): Promise<LoginCodeRow | undefined> {
  const [row] = await db
    .update(loginCodes)
    .set({ usedAt: now })
    .where(and(eq(loginCodes.hash, hash), isNull(loginCodes.usedAt), gt(loginCodes.expiresAt, now)))
    .returning();
  return row;
}

/** Deletes codes that expired or were used before `before`; returns how many. */
export async function deleteStaleLoginCodes(db: Db, before: Date): Promise<number> {
  const rows = await db
    .delete(loginCodes)
    .where(or(lte(loginCodes.expiresAt, before), lte(loginCodes.usedAt, before)))
    .returning({ hash: loginCodes.hash });
  return rows.length;
}
