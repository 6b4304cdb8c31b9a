// A pipeline's subscription to an extension: from a trigger in its file, or made through the API.
import { foreignKey, index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { pipelines } from "./pipelines.ts";

export const subscriptions = sqliteTable(
  "subscriptions",
  {
    id: integer().primaryKey({ autoIncrement: true }),
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    extension: text().notNull(),
    params: text({ mode: "json" }).$type<Record<string, unknown>>().notNull(),
    /** "file": made from the pipeline file's triggers and replaced when it changes; "api": by a person. */
    source: text().$type<"file" | "api">().notNull(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
  },
  (table) => [
    index("subscriptions_pipeline").on(table.namespace, table.pipelineId),
    foreignKey({ columns: [table.namespace, table.pipelineId], foreignColumns: [pipelines.namespace, pipelines.id] }),
  ],
);
