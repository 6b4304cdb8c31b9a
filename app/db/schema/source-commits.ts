// Commits of a source's branch seen by its syncs, in the order synced (seq), and which
// version of each of its pipelines a commit left current: a run pinned to a commit
// (--commit <sha>) runs that version.
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const sourceCommits = sqliteTable(
  "source_commits",
  {
    source: text().notNull(),
    sha: text().notNull(),
    /** 1, 2, 3... per source in sync order (oldest first within a sync). */
    seq: integer().notNull(),
    author: text().notNull(),
    message: text().notNull(),
    committedAt: text().notNull(),
    /** Whether the commit changed the source folder (its files were loaded). */
    loaded: integer({ mode: "boolean" }).notNull(),
    syncedAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.source, table.sha] }), index("source_commits_seq").on(table.source, table.seq)],
);

export const sourcePipelineVersions = sqliteTable(
  "source_pipeline_versions",
  {
    source: text().notNull(),
    seq: integer().notNull(),
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    /** The version current after this commit; null when the commit removed the pipeline. */
    version: integer(),
  },
  (table) => [primaryKey({ columns: [table.source, table.namespace, table.pipelineId, table.seq] })],
);
