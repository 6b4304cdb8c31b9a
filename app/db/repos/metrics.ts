// The counts /metrics reads when it is scraped: runs by pipeline and state, the queue, the
// webhook deliveries in the event log, and one task execution's end.
import { and, count, eq, inArray, min, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { events, runs, taskExecutions } from "../schema/index.ts";
import type { RunKey } from "../../domain/run-key.ts";

export async function runCountsByState(db: Db): Promise<{ namespace: string; pipeline: string; state: string; runs: number }[]> {
  return db
    .select({ namespace: runs.namespace, pipeline: runs.pipelineId, state: runs.state, runs: count() })
    .from(runs)
    .groupBy(runs.namespace, runs.pipelineId, runs.state);
}

/** How many runs wait queued, and since when the longest one has. */
export async function queueStats(db: Db): Promise<{ queued: number; oldestQueuedAt: Date | null }> {
  const [row] = await db.select({ queued: count(), oldest: min(runs.queuedAt) }).from(runs).where(eq(runs.state, "queued"));
  return { queued: row?.queued ?? 0, oldestQueuedAt: row?.oldest ?? null };
}

/** Webhook deliveries the event log still holds, by extension (or git source) and outcome. */
export async function deliveryCounts(db: Db): Promise<{ kind: string; via: string; deliveries: number }[]> {
  const via = sql<string>`coalesce(json_extract(${events.data}, '$.extension'), json_extract(${events.data}, '$.source'), 'unknown')`;
  return db
    .select({ kind: events.kind, via, deliveries: count() })
    .from(events)
    .where(inArray(events.kind, ["delivery.accepted", "delivery.rejected", "delivery.duplicate"]))
    .groupBy(events.kind, via);
}

/** One task execution's kind, end and times, for the task duration histogram. */
export async function executionEnd(db: Db, key: RunKey, taskId: string) {
  const [row] = await db
    .select({ kind: taskExecutions.kind, state: taskExecutions.state, exitCode: taskExecutions.exitCode, reason: taskExecutions.reason, startedAt: taskExecutions.startedAt, endedAt: taskExecutions.endedAt })
    .from(taskExecutions)
    .where(and(eq(taskExecutions.namespace, key.namespace), eq(taskExecutions.pipelineId, key.id), eq(taskExecutions.runId, key.run), eq(taskExecutions.taskId, taskId)))
    .limit(1);
  return row;
}
