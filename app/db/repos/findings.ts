// Findings of scans: stored per task of a run (an attempt replaces what an earlier one
// stored), read per run through its task executions, so a re-run's reused scan shows the
// findings of the run it ran in, and counted per run for the run history.
import { and, asc, desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "../client.ts";
import { findings, runs, taskExecutions } from "../schema/index.ts";
import { prepared } from "../prepared.ts";
import { RUN_KEY, runKeyValues } from "./runs.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { RunKey } from "../../domain/run-key.ts";
import type { Finding, LevelCounts } from "../../domain/sarif.ts";

export type FindingRow = typeof findings.$inferSelect;

/** Rows per insert statement: 12 bound values each, well under SQLite's limit. */
const ROWS_PER_INSERT = 500;

/** Replaces the findings a task of a run stored (a retry's report replaces the earlier attempt's). */
export async function replaceTaskFindings(db: Db, key: RunKey, taskId: string, found: readonly Finding[]): Promise<void> {
  const where = and(eq(findings.namespace, key.namespace), eq(findings.pipelineId, key.id), eq(findings.runId, key.run), eq(findings.taskId, taskId));
  const rows = found.map((finding, seq) => ({ namespace: key.namespace, pipelineId: key.id, runId: key.run, taskId, seq, ...finding }));
  await db.transaction(async (tx) => {
    await tx.delete(findings).where(where);
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
      await tx.insert(findings).values(rows.slice(start, start + ROWS_PER_INSERT));
    }
  });
}

/**
 * The join from a run's executions to the findings they stored: a reused execution's rows
 * are under the run it kept them from.
 */
const storedBy = and(
  eq(findings.namespace, taskExecutions.namespace),
  eq(findings.pipelineId, taskExecutions.pipelineId),
  eq(findings.runId, sql`coalesce(${taskExecutions.reusedFrom}, ${taskExecutions.runId})`),
  eq(findings.taskId, taskExecutions.taskId),
);

const executionsOf = (key: RunKey) => and(eq(taskExecutions.namespace, key.namespace), eq(taskExecutions.pipelineId, key.id), eq(taskExecutions.runId, key.run));

// Read for every finished run an extension started (it is told the run's findings), and by the run page.
const findingsQuery = prepared((db) =>
  db
    .select({ finding: findings })
    .from(taskExecutions)
    .innerJoin(findings, storedBy)
    .where(executionsOf(RUN_KEY))
    .orderBy(asc(taskExecutions.taskId), asc(findings.seq))
    .prepare(),
);
const fingerprintsQuery = prepared((db) =>
  db.selectDistinct({ fingerprint: findings.fingerprint }).from(taskExecutions).innerJoin(findings, storedBy).where(executionsOf(RUN_KEY)).prepare(),
);
const lastSuccessfulQuery = prepared((db) =>
  db
    .select({ id: runs.id })
    .from(runs)
    .where(and(eq(runs.namespace, sql.placeholder("namespace")), eq(runs.pipelineId, sql.placeholder("id")), lt(runs.id, sql.placeholder("run")), eq(runs.state, "successful")))
    .orderBy(desc(runs.id))
    .limit(1)
    .prepare(),
);

/** A run's findings, by task, in each report's order. */
export async function listRunFindings(db: DbOrTx, key: RunKey): Promise<FindingRow[]> {
  const rows = await findingsQuery(db).all(runKeyValues(key));
  return rows.map((row) => row.finding);
}

/** The fingerprints among a run's findings. */
export async function runFingerprints(db: DbOrTx, key: RunKey): Promise<Set<string>> {
  const rows = await fingerprintsQuery(db).all(runKeyValues(key));
  return new Set(rows.map((row) => row.fingerprint));
}

/** The pipeline's newest successful run before `key`'s run: what "new" findings are new against. */
export async function lastSuccessfulRunBefore(db: DbOrTx, key: RunKey): Promise<number | undefined> {
  const [row] = await lastSuccessfulQuery(db).all(runKeyValues(key));
  return row?.id;
}

/** Built once: the runs come as one JSON array (a list page asks for up to 500 runs; one query text for any number). */
const countsQuery = prepared((db) =>
  db
    .select({ runId: taskExecutions.runId, level: findings.level, count: sql<number>`count(*)` })
    .from(taskExecutions)
    .innerJoin(findings, storedBy)
    .where(
      and(
        eq(taskExecutions.namespace, sql.placeholder("namespace")),
        eq(taskExecutions.pipelineId, sql.placeholder("id")),
        inArray(taskExecutions.runId, sql`(select value from json_each(${sql.placeholder("runs")}))`),
      ),
    )
    .groupBy(taskExecutions.runId, findings.level)
    .prepare(),
);

/** Finding counts by level of each of these runs of one pipeline; runs without findings are absent. */
export async function findingCountsOfRuns(db: DbOrTx, pipeline: PipelineKey, runIds: readonly number[]): Promise<Map<number, LevelCounts>> {
  const counts = new Map<number, LevelCounts>();
  if (runIds.length === 0) return counts;
  const rows = await countsQuery(db).all({ namespace: pipeline.namespace, id: pipeline.id, runs: JSON.stringify(runIds) });
  for (const row of rows) {
    const entry = counts.get(row.runId) ?? { error: 0, warning: 0, note: 0 };
    entry[row.level] += Number(row.count);
    counts.set(row.runId, entry);
  }
  return counts;
}

export interface RunFindings {
  /** The run's findings, each marked new when its fingerprint was not among the baseline's. */
  findings: (FindingRow & { isNew: boolean })[];
  counts: LevelCounts;
  /** The last successful run before this one, whose findings are not new; absent when there is none (all are new). */
  baseline?: number;
}

/** A run's findings as pages and the API show them: counted, and new ones marked against the last successful run before it. */
export async function readRunFindings(db: DbOrTx, key: RunKey): Promise<RunFindings> {
  const [rows, baseline] = await Promise.all([listRunFindings(db, key), lastSuccessfulRunBefore(db, key)]);
  const known = baseline !== undefined && rows.length > 0 ? await runFingerprints(db, { ...key, run: baseline }) : new Set<string>();
  const counts: LevelCounts = { error: 0, warning: 0, note: 0 };
  for (const row of rows) counts[row.level]++;
  return {
    findings: rows.map((row) => ({ ...row, isNew: !known.has(row.fingerprint) })),
    counts,
    ...(baseline !== undefined && { baseline }),
  };
}
