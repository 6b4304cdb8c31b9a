// Artifacts: named files or folders a task stored after it succeeded, kept with their run
// (the rows go when the run does; the store's blobs are removed with them). The bytes are a
// tar in the artifact store (the data dir or an S3 bucket), checked by sha256 when read.
import { foreignKey, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { runs } from "./runs.ts";

export const artifacts = sqliteTable(
  "artifacts",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    runId: integer().notNull(),
    name: text().notNull(),
    /** The task that stored it. */
    taskId: text().notNull(),
    /** Where it was in the workspace, and so where it is put back. */
    path: text().notNull(),
    kind: text().$type<"file" | "folder">().notNull(),
    /** Bytes of the stored tar. */
    size: integer().notNull(),
    /** sha256 of the stored tar, hex. */
    sha256: text().notNull(),
    /** Its key in the artifact store. */
    storageKey: text().notNull(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.namespace, table.pipelineId, table.runId, table.name] }),
    foreignKey({ columns: [table.namespace, table.pipelineId, table.runId], foreignColumns: [runs.namespace, runs.pipelineId, runs.id] }).onDelete("cascade"),
  ],
);
