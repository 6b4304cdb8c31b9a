// Queries for web sessions.
import { eq, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { sessions } from "../schema/index.ts";
import { prepared } from "../prepared.ts";

export type SessionRow = typeof sessions.$inferSelect;

export async function insertSession(db: Db, row: SessionRow): Promise<void> {
  await db.insert(sessions).values(row);
}

// Read for every page and live stream of a signed-in person: built once.
const sessionQuery = prepared((db) => db.select().from(sessions).where(eq(sessions.id, sql.placeholder("id"))).limit(1).prepare());

export async function getSession(db: Db, id: string): Promise<SessionRow | undefined> {
  const [row] = await sessionQuery(db).all({ id });
  return row;
}

export async function touchSession(db: Db, id: string, now: Date): Promise<void> {
  await db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.id, id));
}

export async function endSession(db: Db, id: string, now: Date): Promise<void> {
  await db.update(sessions).set({ endedAt: now }).where(eq(sessions.id, id));
}
