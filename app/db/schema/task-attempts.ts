// Every attempt of a task, kept: a retry adds a row, never overwrites one. The reference
// (a container name, a process marker) is stored before the work starts, so a restarted
// server finds it again; the log offsets cut the task's log into its attempts.
import { foreignKey, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { AttemptState } from "../../domain/states.ts";
import { runs } from "./runs.ts";

export const taskAttempts = sqliteTable(
  "task_attempts",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    runId: integer().notNull(),
    taskId: text().notNull(),
    attempt: integer().notNull(),
    state: text().$type<AttemptState>().notNull(),
    exitCode: integer(),
    reason: text(),
    /** Which executor ran it (a swarm service is "swarm", whatever the server runs now) and its stored reference there. */
    executor: text().$type<"run" | "container" | "swarm">().notNull(),
    ref: text(),
    nodeId: text(),
    /** Byte offsets of this attempt's part of the task log. */
    logFrom: integer().notNull().default(0),
    logTo: integer(),
    startedAt: integer({ mode: "timestamp_ms" }).notNull(),
    endedAt: integer({ mode: "timestamp_ms" }),
  },
  (table) => [
    primaryKey({ columns: [table.namespace, table.pipelineId, table.runId, table.taskId, table.attempt] }),
    foreignKey({
      columns: [table.namespace, table.pipelineId, table.runId],
      foreignColumns: [runs.namespace, runs.pipelineId, runs.id],
    }).onDelete("cascade"),
  ],
);
