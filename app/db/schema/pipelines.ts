// A pipeline known to the server: where its file is, its current good version and its
// latest load error.
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export interface LoadErrorRecord {
  file: string;
  issues: { path: string; message: string }[];
}

export const pipelines = sqliteTable(
  "pipelines",
  {
    namespace: text().notNull(),
    id: text().notNull(),
    /** Its file: an absolute path in the local folder, or the path in the repository for a source's. */
    file: text().notNull(),
    /** The git source it comes from; null for the local pipelines folder. */
    source: text(),
    /** The version new runs use; null while the file has never loaded cleanly. */
    currentVersion: integer(),
    loadError: text({ mode: "json" }).$type<LoadErrorRecord>(),
    /** Run ids count 1, 2, 3... per pipeline; this is the last one handed out. */
    lastRunId: integer().notNull().default(0),
    /** Set when the file is gone; runs and versions stay readable. */
    deletedAt: integer({ mode: "timestamp_ms" }),
    updatedAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.namespace, table.id] })],
);
