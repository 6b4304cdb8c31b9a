// Queries for the event log.
import { and, asc, desc, eq, gt, type SQL } from "drizzle-orm";
import type { Db } from "../client.ts";
import { events } from "../schema/index.ts";

export type EventRow = typeof events.$inferSelect;

export async function insertEvent(db: Db, event: typeof events.$inferInsert): Promise<EventRow> {
  const [row] = await db.insert(events).values(event).returning();
  return row!;
}

export async function listEvents(
  db: Db,
  options: { after?: number; limit: number; namespace?: string; pipelineId?: string },
): Promise<EventRow[]> {
  const filters: (SQL | undefined)[] = [
    options.after !== undefined ? gt(events.id, options.after) : undefined,
    options.namespace ? eq(events.namespace, options.namespace) : undefined,
    options.pipelineId ? eq(events.pipelineId, options.pipelineId) : undefined,
  ];
  return db.select().from(events).where(and(...filters)).orderBy(asc(events.id)).limit(options.limit);
}

export async function latestEventId(db: Db): Promise<number> {
  const [last] = await db.select({ id: events.id }).from(events).orderBy(desc(events.id)).limit(1);
  return last?.id ?? 0;
}
