// The event log: every state change, in order.
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { EventKind } from "../../domain/event-kinds.ts";

export const events = sqliteTable(
  "events",
  {
    id: integer().primaryKey({ autoIncrement: true }),
    kind: text().$type<EventKind>().notNull(),
    namespace: text(),
    pipelineId: text(),
    runId: integer(),
    taskId: text(),
    data: text({ mode: "json" }).$type<Record<string, unknown>>().notNull(),
    at: integer({ mode: "timestamp_ms" }).notNull(),
    /**
     * The node (server) that wrote it, where the writer knows it (the run engine's events):
     * the event relay tells a server's live pages what the other servers did, not its own again.
     */
    nodeId: text(),
  },
  (table) => [index("events_at").on(table.at)],
);
