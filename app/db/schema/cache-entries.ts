// Caches: per pipeline, one entry per key (a tar of the cached paths in the artifact store),
// evicted least recently used first when the pipeline's caches pass GANTRY_CACHE_MAX_BYTES.
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const cacheEntries = sqliteTable(
  "cache_entries",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    key: text().notNull(),
    size: integer().notNull(),
    sha256: text().notNull(),
    storageKey: text().notNull(),
    /** The run whose task saved it. */
    runId: integer().notNull(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    lastUsedAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.namespace, table.pipelineId, table.key] }), index("cache_entries_used").on(table.namespace, table.pipelineId, table.lastUsedAt)],
);
