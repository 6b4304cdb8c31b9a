// One execution of a pipeline version.
import { foreignKey, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { RunState } from "../../domain/states.ts";
import { pipelines } from "./pipelines.ts";

export interface RunTrigger {
  kind: string;
  /** Who or what started it: a token name, a schedule, a delivery id. */
  by?: string;
}

export const runs = sqliteTable(
  "runs",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    id: integer().notNull(),
    state: text().$type<RunState>().notNull(),
    reason: text(),
    trigger: text({ mode: "json" }).$type<RunTrigger>().notNull(),
    version: integer().notNull(),
    variables: text({ mode: "json" }).$type<Record<string, string>>().notNull(),
    createdAt: integer({ mode: "timestamp_ms" }).notNull(),
    startedAt: integer({ mode: "timestamp_ms" }),
    endedAt: integer({ mode: "timestamp_ms" }),
  },
  (table) => [
    primaryKey({ columns: [table.namespace, table.pipelineId, table.id] }),
    index("runs_state").on(table.state),
    index("runs_created").on(table.createdAt),
    foreignKey({ columns: [table.namespace, table.pipelineId], foreignColumns: [pipelines.namespace, pipelines.id] }),
  ],
);
