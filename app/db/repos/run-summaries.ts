// Runs as overviews show them: the newest across all pipelines, active runs per pipeline,
// and each pipeline with its name and last run. All read indexed rows only, so they stay
// fast with many thousands of runs.
import { and, desc, eq, inArray, isNull, or, sql, type SQL } from "drizzle-orm";
import type { Db } from "../client.ts";
import { pipelines, pipelineVersions, runs, taskExecutions } from "../schema/index.ts";
import type { TaskState } from "../../domain/states.ts";
import type { PipelineRow } from "./pipelines.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { RunRow } from "./runs.ts";

export interface RunSummary extends RunRow {
  /** How many of the run's tasks are in each state. */
  taskCounts: Partial<Record<TaskState, number>>;
  taskTotal: number;
}

const runKey = (namespace: string, pipelineId: string, id: number) => `${namespace}\u0000${pipelineId}\u0000${id}`;

/** Keys per statement, well under SQLite's limit of bound parameters (three per key). */
const KEYS_PER_QUERY = 1000;

async function withTaskCounts(db: Db, rows: RunRow[]): Promise<RunSummary[]> {
  if (rows.length === 0) return [];
  // One grouped query for all runs: their keys as a VALUES table joined to the executions'
  // primary key, one index range per run (0.2 ms for 25 runs among 40,000 executions;
  // bench/pages.ts). Slower alternatives: `run IN (...) AND pipeline IN (...)` skips the
  // key's first column and scans every execution (2.1 ms); an OR of (namespace, pipeline,
  // run IN ...) terms costs drizzle more to build than SQLite to run; a row-value
  // IN (VALUES ...) searches the whole namespace (9 ms).
  const byKey = new Map<string, Partial<Record<TaskState, number>>>();
  for (let start = 0; start < rows.length; start += KEYS_PER_QUERY) {
    const keys = sql.join(
      rows.slice(start, start + KEYS_PER_QUERY).map((row) => sql`(${row.namespace}, ${row.pipelineId}, ${row.id})`),
      sql`, `,
    );
    const counts = await db.all<{ namespace: string; pipelineId: string; runId: number; state: TaskState; count: number }>(sql`
      select t.namespace as namespace, t.pipeline_id as pipelineId, t.run_id as runId, t.state as state, count(*) as count
      from (values ${keys}) as k
      join ${taskExecutions} as t on t.namespace = k.column1 and t.pipeline_id = k.column2 and t.run_id = k.column3
      group by t.namespace, t.pipeline_id, t.run_id, t.state`);
    for (const count of counts) {
      const key = runKey(count.namespace, count.pipelineId, count.runId);
      const entry = byKey.get(key) ?? {};
      entry[count.state] = count.count;
      byKey.set(key, entry);
    }
  }
  return rows.map((row) => {
    const taskCounts = byKey.get(runKey(row.namespace, row.pipelineId, row.id)) ?? {};
    return { ...row, taskCounts, taskTotal: Object.values(taskCounts).reduce((sum, n) => sum + (n ?? 0), 0) };
  });
}

export interface RecentRunsOptions {
  /** Only runs of these pipelines (e.g. those the caller may read); all when absent. */
  pipelines?: PipelineKey[];
}

/** The newest runs across all pipelines (or the given ones), newest first. */
export async function recentRuns(db: Db, limit: number, options: RecentRunsOptions = {}): Promise<RunSummary[]> {
  let where: SQL | undefined;
  if (options.pipelines) {
    if (options.pipelines.length === 0) return [];
    where = or(...options.pipelines.map((key) => and(eq(runs.namespace, key.namespace), eq(runs.pipelineId, key.id))));
  }
  const rows = await db.select().from(runs).where(where).orderBy(desc(runs.createdAt)).limit(limit);
  return withTaskCounts(db, rows);
}

/** How many runs of each pipeline are pending or running now, keyed "namespace/id" (from the state index). */
export async function activeRunsByPipeline(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .select({ namespace: runs.namespace, pipelineId: runs.pipelineId, count: sql<number>`count(*)` })
    .from(runs)
    .where(inArray(runs.state, ["pending", "running"]))
    .groupBy(runs.namespace, runs.pipelineId);
  return new Map(rows.map((row) => [`${row.namespace}/${row.pipelineId}`, row.count]));
}

export interface PipelineOverview extends PipelineRow {
  /** The current version's display name (the id when it has none or never loaded). */
  name: string;
  description: string;
  /** The pipeline's newest run, without task counts. */
  lastRun: RunRow | undefined;
}

/**
 * Every pipeline (not deleted) with its name, description and last run, in one query:
 * both joins are primary-key lookups; only the name and description are read out of the
 * version's spec, not the whole spec.
 */
export async function pipelineOverviews(db: Db): Promise<PipelineOverview[]> {
  const rows = await db
    .select({
      pipeline: pipelines,
      name: sql<string | null>`json_extract(${pipelineVersions.spec}, '$.name')`,
      description: sql<string | null>`json_extract(${pipelineVersions.spec}, '$.description')`,
      run: runs,
    })
    .from(pipelines)
    .leftJoin(
      pipelineVersions,
      and(
        eq(pipelineVersions.namespace, pipelines.namespace),
        eq(pipelineVersions.pipelineId, pipelines.id),
        eq(pipelineVersions.version, pipelines.currentVersion),
      ),
    )
    .leftJoin(runs, and(eq(runs.namespace, pipelines.namespace), eq(runs.pipelineId, pipelines.id), eq(runs.id, pipelines.lastRunId)))
    .where(isNull(pipelines.deletedAt))
    .orderBy(pipelines.namespace, pipelines.id);
  return rows.map((row) => ({
    ...row.pipeline,
    name: row.name || row.pipeline.id,
    description: row.description ?? "",
    lastRun: row.run ?? undefined,
  }));
}
