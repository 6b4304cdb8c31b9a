// Runs as overviews show them: the newest across all pipelines, and the last run of each
// pipeline. Both read indexed rows only, so they stay fast with many thousands of runs.
import { and, desc, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { pipelines, runs, taskExecutions } from "../schema/index.ts";
import type { TaskState } from "../../domain/states.ts";
import type { RunRow } from "./runs.ts";

export interface RunSummary extends RunRow {
  /** How many of the run's tasks are in each state. */
  taskCounts: Partial<Record<TaskState, number>>;
  taskTotal: number;
}

async function withTaskCounts(db: Db, rows: RunRow[]): Promise<RunSummary[]> {
  if (rows.length === 0) return [];
  // One grouped query for all runs; rows of a pipeline share (namespace, pipelineId).
  const keys = rows.map((row) => `${row.namespace}\u0000${row.pipelineId}\u0000${row.id}`);
  const counts = await db
    .select({
      key: sql<string>`${taskExecutions.namespace} || char(0) || ${taskExecutions.pipelineId} || char(0) || ${taskExecutions.runId}`,
      state: taskExecutions.state,
      count: sql<number>`count(*)`,
    })
    .from(taskExecutions)
    .where(
      and(
        inArray(taskExecutions.runId, [...new Set(rows.map((row) => row.id))]),
        inArray(taskExecutions.pipelineId, [...new Set(rows.map((row) => row.pipelineId))]),
      ),
    )
    .groupBy(taskExecutions.namespace, taskExecutions.pipelineId, taskExecutions.runId, taskExecutions.state);
  const byKey = new Map<string, Partial<Record<TaskState, number>>>();
  for (const count of counts) {
    const entry = byKey.get(count.key) ?? {};
    entry[count.state] = count.count;
    byKey.set(count.key, entry);
  }
  return rows.map((row, index) => {
    const taskCounts = byKey.get(keys[index]!) ?? {};
    return { ...row, taskCounts, taskTotal: Object.values(taskCounts).reduce((sum, n) => sum + (n ?? 0), 0) };
  });
}

/** The newest runs across all pipelines, newest first. */
export async function recentRuns(db: Db, limit: number): Promise<RunSummary[]> {
  const rows = await db.select().from(runs).orderBy(desc(runs.createdAt)).limit(limit);
  return withTaskCounts(db, rows);
}

/** The last run of every pipeline that has one, keyed "namespace/id". */
export async function lastRunOfEachPipeline(db: Db): Promise<Map<string, RunSummary>> {
  const rows = await db
    .select({ run: runs })
    .from(pipelines)
    .innerJoin(runs, and(eq(runs.namespace, pipelines.namespace), eq(runs.pipelineId, pipelines.id), eq(runs.id, pipelines.lastRunId)));
  const summaries = await withTaskCounts(
    db,
    rows.map((row) => row.run),
  );
  return new Map(summaries.map((summary) => [`${summary.namespace}/${summary.pipelineId}`, summary]));
}
