// Queries for the event log.
import { and, asc, desc, eq, gt, lt, lte, type SQL } from "drizzle-orm";
import type { Db } from "../client.ts";
import { events } from "../schema/index.ts";

export type EventRow = typeof events.$inferSelect;

export async function insertEvent(db: Db, event: typeof events.$inferInsert): Promise<EventRow> {
  const [row] = await db.insert(events).values(event).returning();
  return row!;
}

/**
 * Events in id order, oldest first: the first `limit` after `after`, or, with `before`, the
 * last `limit` before it (the newest page of the log is `before: Infinity`).
 */
export async function listEvents(
  db: Db,
  options: { after?: number; before?: number; limit: number; namespace?: string; pipelineId?: string },
): Promise<EventRow[]> {
  const filters: (SQL | undefined)[] = [
    options.after !== undefined ? gt(events.id, options.after) : undefined,
    options.before !== undefined && Number.isFinite(options.before) ? lt(events.id, options.before) : undefined,
    options.namespace ? eq(events.namespace, options.namespace) : undefined,
    options.pipelineId ? eq(events.pipelineId, options.pipelineId) : undefined,
  ];
  if (options.before === undefined) return db.select().from(events).where(and(...filters)).orderBy(asc(events.id)).limit(options.limit);
  const newestFirst = await db.select().from(events).where(and(...filters)).orderBy(desc(events.id)).limit(options.limit);
  return newestFirst.reverse();
}

export async function latestEventId(db: Db): Promise<number> {
  const [last] = await db.select({ id: events.id }).from(events).orderBy(desc(events.id)).limit(1);
  return last?.id ?? 0;
}

/** Deletes events older than `olderThan` and all but the newest `keepLast`; returns how many went. */
export async function pruneEvents(db: Db, options: { olderThan: Date; keepLast: number }): Promise<number> {
  let deleted = (await db.delete(events).where(lt(events.at, options.olderThan))).rowsAffected;
  const [cut] = await db.select({ id: events.id }).from(events).orderBy(desc(events.id)).limit(1).offset(options.keepLast);
  if (cut) deleted += (await db.delete(events).where(lte(events.id, cut.id))).rowsAffected;
  return deleted;
}
