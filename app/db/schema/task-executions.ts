// The execution of one task in one run: its state, attempts and outcome.
import { foreignKey, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { TaskState } from "../../domain/states.ts";
import { runs } from "./runs.ts";

export const taskExecutions = sqliteTable(
  "task_executions",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    runId: integer().notNull(),
    taskId: text().notNull(),
    kind: text().$type<"run" | "container">().notNull(),
    state: text().$type<TaskState>().notNull(),
    exitCode: integer(),
    attempt: integer().notNull().default(0),
    reason: text(),
    /** Process group of a running run() task, so a restart can clean it up. */
    pid: integer(),
    startedAt: integer({ mode: "timestamp_ms" }),
    endedAt: integer({ mode: "timestamp_ms" }),
  },
  (table) => [
    primaryKey({ columns: [table.namespace, table.pipelineId, table.runId, table.taskId] }),
    foreignKey({
      columns: [table.namespace, table.pipelineId, table.runId],
      foreignColumns: [runs.namespace, runs.pipelineId, runs.id],
    }).onDelete("cascade"),
  ],
);
