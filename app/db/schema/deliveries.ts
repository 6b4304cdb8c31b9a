// Hook deliveries that started runs. The unique index is what makes a repeated delivery id
// start nothing twice, whatever the process does, also across restarts.
import { integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const deliveries = sqliteTable(
  "deliveries",
  {
    id: integer().primaryKey({ autoIncrement: true }),
    extension: text().notNull(),
    deliveryId: text().notNull(),
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    /** The run it started (stored in the same transaction); null only in rows older versions left. */
    runId: integer(),
    receivedAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [uniqueIndex("deliveries_unique").on(table.extension, table.deliveryId, table.namespace, table.pipelineId)],
);
