// The execution of one task in one run: its state, its latest attempt and outcome. The
// node running it holds a lease on it; each attempt is kept in task_attempts.
import { foreignKey, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { TaskState } from "../../domain/states.ts";
import type { GateDecision, WaitingGate } from "../../domain/approvals.ts";
import type { CacheResult } from "../../domain/task-files.ts";
import { runs } from "./runs.ts";

export const taskExecutions = sqliteTable(
  "task_executions",
  {
    namespace: text().notNull(),
    pipelineId: text().notNull(),
    runId: integer().notNull(),
    taskId: text().notNull(),
    kind: text().$type<"run" | "container" | "approval">().notNull(),
    state: text().$type<TaskState>().notNull(),
    exitCode: integer(),
    /** The latest attempt's number; 0 before the first. */
    attempt: integer().notNull().default(0),
    reason: text(),
    /** For a reused task: the run whose execution it kept. */
    reusedFrom: integer(),
    /** When a failed attempt's retry is due (its retryDelay); null when none waits. */
    retryAt: integer({ mode: "timestamp_ms" }),
    /** An approval gate waiting (or that waited): its message, rules and deadline. */
    gate: text({ mode: "json" }).$type<WaitingGate>(),
    /** The gate's decision, written by whoever decided; the driving node applies it. */
    decision: text({ mode: "json" }).$type<GateDecision>(),
    /** What became of the task's cache: the key, hit or miss, and whether it was saved. */
    cacheResult: text({ mode: "json" }).$type<CacheResult>(),
    nodeId: text(),
    leaseExpiresAt: integer({ mode: "timestamp_ms" }),
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
