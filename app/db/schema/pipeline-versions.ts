// Each distinct content of a pipeline file, with its validated spec and the bundle
// that runs of this version execute.
import { foreignKey, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { PipelineSpec } from "../../domain/pipeline-spec.ts";
import type { VersionOrigin } from "../../domain/sources.ts";
import { pipelines } from "./pipelines.ts";

export const pipelineVersions = sqliteTable(
  "pipeline_versions",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    version: integer().notNull(),
    /** sha256 of the file's bundled code. */
    hash: text().notNull(),
    bundlePath: text().notNull(),
    spec: text({ mode: "json" }).$type<PipelineSpec>().notNull(),
    /** The commit of a source that produced it; null for the local folder's. */
    origin: text({ mode: "json" }).$type<VersionOrigin>(),
    /** The text of the file and the local files it imports, by path, for the diff between versions. */
    files: text({ mode: "json" }).$type<Record<string, string>>(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.namespace, table.pipelineId, table.version] }),
    uniqueIndex("pipeline_versions_hash").on(table.namespace, table.pipelineId, table.hash),
    foreignKey({ columns: [table.namespace, table.pipelineId], foreignColumns: [pipelines.namespace, pipelines.id] }),
  ],
);
