// Queries for the event log.
import { and, asc, desc, eq, gt, lt, lte, sql, type SQL } from "drizzle-orm";
import type { Db, DbOrTx } from "../client.ts";
import { prepared } from "../prepared.ts";
import { events } from "../schema/index.ts";
import type { EventKind } from "../../domain/event-kinds.ts";
import type { RunKey } from "../../domain/run-key.ts";

export type EventRow = typeof events.$inferSelect;
export type NewEvent = typeof events.$inferInsert;

/** An event of a run, or with `task` of one of its tasks. */
export function runEvent(kind: EventKind, key: RunKey, data: Record<string, unknown>, at: Date, task?: string): NewEvent {
  return { kind, namespace: key.namespace, pipelineId: key.id, runId: key.run, ...(task && { taskId: task }), data, at };
}

const appendQuery = prepared((db) =>
  db
    .insert(events)
    .values({
      kind: sql.placeholder("kind"),
      namespace: sql.placeholder("namespace"),
      pipelineId: sql.placeholder("pipelineId"),
      runId: sql.placeholder("runId"),
      taskId: sql.placeholder("taskId"),
      data: sql.placeholder("data"),
      at: sql.placeholder("at"),
      nodeId: sql.placeholder("nodeId"),
    })
    .prepare(),
);

/** Writes events in the caller's transaction (or on their own), one prepared insert each: the engine's path writes a few per run. */
export async function appendEvents(db: DbOrTx, list: NewEvent | NewEvent[]): Promise<void> {
  for (const event of Array.isArray(list) ? list : [list]) {
    await appendQuery(db).run({
      kind: event.kind,
      namespace: event.namespace ?? null,
      pipelineId: event.pipelineId ?? null,
      runId: event.runId ?? null,
      taskId: event.taskId ?? null,
      data: event.data,
      at: event.at,
      nodeId: event.nodeId ?? null,
    });
  }
}

export async function insertEvent(db: Db, event: typeof events.$inferInsert): Promise<EventRow> {
  const [row] = await db.insert(events).values(event).returning();
  return row!;
}

export interface ListEventsOptions {
  /** Read forward: the first `limit` events after this id, oldest first (also without `before`). */
  after?: number;
  /** Read backward: the last `limit` events before this id, newest first (the newest page is `before: Infinity`). */
  before?: number;
  limit: number;
  /** Only events whose kind starts with this, e.g. "run." or "task.finished" (SQL LIKE: ASCII case is ignored; kinds are lower case). */
  kindPrefix?: string;
  namespace?: string;
  pipelineId?: string;
}

/** `text` as a LIKE pattern matching itself literally (with `ESCAPE '\\'`). */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

/**
 * Events in id order: oldest first when reading forward (`after`, or neither), newest first
 * when reading backward (`before`).
 */
export async function listEvents(db: Db, options: ListEventsOptions): Promise<EventRow[]> {
  const backward = options.before !== undefined;
  const filters: (SQL | undefined)[] = [
    options.after !== undefined ? gt(events.id, options.after) : undefined,
    backward && Number.isFinite(options.before) ? lt(events.id, options.before!) : undefined,
    options.kindPrefix ? sql`${events.kind} like ${`${likeLiteral(options.kindPrefix)}%`} escape '\\'` : undefined,
    options.namespace ? eq(events.namespace, options.namespace) : undefined,
    options.pipelineId ? eq(events.pipelineId, options.pipelineId) : undefined,
  ];
  return db
    .select()
    .from(events)
    .where(and(...filters))
    .orderBy(backward ? desc(events.id) : asc(events.id))
    .limit(options.limit);
}

const afterQuery = prepared((db) => db.select().from(events).where(gt(events.id, sql.placeholder("after"))).orderBy(asc(events.id)).limit(sql.placeholder("limit")).prepare());

/** The first `limit` events after the id, oldest first: listEvents' forward read, built once (the event relay reads it every 300 ms). */
export async function listEventsAfter(db: Db, after: number, limit: number): Promise<EventRow[]> {
  return afterQuery(db).all({ after, limit });
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
