// The server-wide pause switch (read by admission in its transaction, written with its event),
// and the installation's instance id.
import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { DbOrTx } from "../client.ts";
import { events, systemState } from "../schema/index.ts";
import { prepared } from "../prepared.ts";

export type SystemStateRow = typeof systemState.$inferSelect;

const NOT_PAUSED: SystemStateRow = { id: 1, paused: false, pausedBy: null, pausedAt: null, updatedAt: new Date(0), instanceId: null };

/** Read by every run's admission. */
const stateQuery = prepared((db) => db.select().from(systemState).where(eq(systemState.id, 1)).limit(1).prepare());

export async function getSystemState(db: DbOrTx): Promise<SystemStateRow> {
  const [row] = await stateQuery(db).all();
  return row ?? NOT_PAUSED;
}

/** Sets the switch with its event (stamped with the `writer` node); false when it already was in that position. */
export async function setPaused(db: DbOrTx, paused: boolean, by: string | undefined, now: Date, writer?: string): Promise<boolean> {
  const current = await getSystemState(db);
  if (current.paused === paused) return false;
  const row = { paused, pausedBy: paused ? (by ?? null) : null, pausedAt: paused ? now : null, updatedAt: now };
  await db.insert(systemState).values({ id: 1, ...row }).onConflictDoUpdate({ target: systemState.id, set: row });
  await db.insert(events).values({ kind: paused ? "system.paused" : "system.resumed", data: { ...(by && { by }) }, at: now, nodeId: writer ?? null });
  return true;
}

/**
 * The installation's instance id: 16 random hex digits, made by the first server that asks
 * and kept in the database, so every server on it (and every restart) uses the same one, and
 * two installations never do, whatever their paths. Servers starting at once on a new
 * database agree: the first write wins.
 */
export async function ensureInstanceId(db: DbOrTx, now: Date): Promise<string> {
  const [row] = await db.select({ instanceId: systemState.instanceId }).from(systemState).where(eq(systemState.id, 1)).limit(1);
  if (row?.instanceId) return row.instanceId;
  await db
    .insert(systemState)
    .values({ id: 1, updatedAt: now, instanceId: randomBytes(8).toString("hex") })
    .onConflictDoUpdate({ target: systemState.id, set: { instanceId: sql`coalesce(${systemState.instanceId}, excluded.instance_id)` } });
  const [made] = await db.select({ instanceId: systemState.instanceId }).from(systemState).where(eq(systemState.id, 1)).limit(1);
  return made!.instanceId!;
}
