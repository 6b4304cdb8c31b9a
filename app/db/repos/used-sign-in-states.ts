// Queries for used sign-in states: taking one is a single insert, so two servers answering the
// same replayed callback at once cannot both take it.
import { lte } from "drizzle-orm";
import type { Db } from "../client.ts";
import { usedSignInStates } from "../schema/index.ts";

/** Records a state as used; false when it was used already. Forgets states past their expiry. */
export async function takeSignInState(db: Db, hash: string, expiresAt: Date, now: Date): Promise<boolean> {
  await db.delete(usedSignInStates).where(lte(usedSignInStates.expiresAt, now));
  const rows = await db.insert(usedSignInStates).values({ hash, expiresAt }).onConflictDoNothing().returning({ hash: usedSignInStates.hash });
  return rows.length === 1;
}
