// Object store metadata: one row per stored object. The bytes are a file under
// <data>/objects; the row says what it is and orders writes for eviction.
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export type ObjectScopeKind = "pipeline" | "run";

export const objects = sqliteTable(
  "objects",
  {
    scope: text().$type<ObjectScopeKind>().notNull(),
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    /** The run the object belongs to; 0 for pipeline objects. */
    runId: integer().notNull(),
    key: text().notNull(),
    size: integer().notNull(),
    /** sha256 of the bytes, hex. */
    sha256: text().notNull(),
    /** Increases with every write across the table: the order in which the oldest are evicted. */
    seq: integer().notNull(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.scope, table.namespace, table.pipelineId, table.runId, table.key] }),
    index("objects_seq").on(table.seq),
  ],
);
