// Queries for runs and their task executions. Every state change writes its event in
// the same transaction, so the event log never disagrees with the rows.
import { and, asc, desc, eq, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { deliveries, events, pipelines, runs, taskExecutions, type RunTrigger } from "../schema/index.ts";
import type { RunState, TaskState } from "../../domain/states.ts";
import type { PipelineKey } from "./pipelines.ts";
import { DuplicateDeliveryError, NotFoundError } from "../../domain/errors.ts";

export type RunRow = typeof runs.$inferSelect;
export type ExecutionRow = typeof taskExecutions.$inferSelect;
export type RunWithTasks = RunRow & { tasks: ExecutionRow[] };
export type NewEvent = typeof events.$inferInsert;

export interface RunKey extends PipelineKey {
  run: number;
}

export interface NewRun {
  trigger: RunTrigger;
  version: number;
  variables: Record<string, string>;
  tasks: { id: string; kind: "run" | "container" }[];
  /** The hook delivery the run is for: stored with the run, and a second run for it refused. */
  delivery?: { extension: string; deliveryId: string };
}

const pipelinesLastRunIdPlusOne = sql`${pipelines.lastRunId} + 1`;

/**
 * Allocates the next run id of the pipeline and stores the run, already running (its
 * created and started events both), with pending tasks: one commit for both. With a
 * delivery, stores that too in the same transaction (a recorded delivery always names its
 * run), or throws DuplicateDeliveryError when it started a run before.
 */
export async function createRun(db: Db, key: PipelineKey, run: NewRun, now: Date): Promise<RunWithTasks> {
  return db.transaction(async (tx) => {
    const [pipeline] = await tx
      .update(pipelines)
      .set({ lastRunId: pipelinesLastRunIdPlusOne })
      .where(and(eq(pipelines.namespace, key.namespace), eq(pipelines.id, key.id)))
      .returning({ lastRunId: pipelines.lastRunId });
    if (!pipeline) throw new NotFoundError(`pipeline ${key.namespace}/${key.id} not found`);
    const id = pipeline.lastRunId;
    const [row] = await tx
      .insert(runs)
      .values({
        namespace: key.namespace,
        pipelineId: key.id,
        id,
        state: "running",
        trigger: run.trigger,
        version: run.version,
        variables: run.variables,
        createdAt: now,
        startedAt: now,
      })
      .returning();
    const tasks = await tx
      .insert(taskExecutions)
      .values(
        run.tasks.map((task) => ({
          namespace: key.namespace,
          pipelineId: key.id,
          runId: id,
          taskId: task.id,
          kind: task.kind,
          state: "pending" as const,
        })),
      )
      .returning();
    const created = { namespace: key.namespace, pipelineId: key.id, runId: id, at: now };
    await tx.insert(events).values([
      { ...created, kind: "run.created", data: { state: "pending", trigger: run.trigger, version: run.version } },
      { ...created, kind: "run.started", data: { state: "running" } },
      ...(run.delivery ? [{ ...created, kind: "delivery.accepted" as const, data: { extension: run.delivery.extension, delivery: run.delivery.deliveryId } }] : []),
    ]);
    if (run.delivery) {
      // Last, so the common case costs one statement: the unique index finds a repeat, and
      // throwing rolls back everything above.
      const delivery = { ...run.delivery, namespace: key.namespace, pipelineId: key.id };
      const stored = await tx.insert(deliveries).values({ ...delivery, runId: id, receivedAt: now }).onConflictDoNothing().run();
      if (stored.rowsAffected === 0) {
        const where = and(
          eq(deliveries.extension, delivery.extension),
          eq(deliveries.deliveryId, delivery.deliveryId),
          eq(deliveries.namespace, delivery.namespace),
          eq(deliveries.pipelineId, delivery.pipelineId),
        );
        const [seen] = await tx.select({ runId: deliveries.runId }).from(deliveries).where(where).limit(1);
        if (seen?.runId != null) throw new DuplicateDeliveryError(delivery.deliveryId, seen.runId);
        // Left by an older version that claimed deliveries before creating their runs: no run came of it.
        await tx.update(deliveries).set({ runId: id, receivedAt: now }).where(where);
      }
    }
    return { ...row!, tasks };
  });
}

/** Executions are inserted in the pipeline's task order; rowid keeps that order. */
const taskOrder = sql`${taskExecutions}.rowid`;

const runWhere = (key: RunKey) =>
  and(eq(runs.namespace, key.namespace), eq(runs.pipelineId, key.id), eq(runs.id, key.run));
const executionsWhere = (key: RunKey) =>
  and(eq(taskExecutions.namespace, key.namespace), eq(taskExecutions.pipelineId, key.id), eq(taskExecutions.runId, key.run));

export async function getRun(db: Db, key: RunKey): Promise<RunWithTasks | undefined> {
  const row = await db.query.runs.findFirst({ where: runWhere(key) });
  if (!row) return undefined;
  const tasks = await db.select().from(taskExecutions).where(executionsWhere(key)).orderBy(taskOrder);
  return { ...row, tasks };
}

export async function listRuns(
  db: Db,
  key: PipelineKey,
  options: { limit: number; before?: number },
): Promise<RunWithTasks[]> {
  const rows = await db
    .select()
    .from(runs)
    .where(
      and(
        eq(runs.namespace, key.namespace),
        eq(runs.pipelineId, key.id),
        options.before !== undefined ? lt(runs.id, options.before) : undefined,
      ),
    )
    .orderBy(desc(runs.id))
    .limit(options.limit);
  if (rows.length === 0) return [];
  const tasks = await db
    .select()
    .from(taskExecutions)
    .where(
      and(
        eq(taskExecutions.namespace, key.namespace),
        eq(taskExecutions.pipelineId, key.id),
        inArray(
          taskExecutions.runId,
          rows.map((row) => row.id),
        ),
      ),
    )
    .orderBy(taskOrder);
  return rows.map((row) => ({ ...row, tasks: tasks.filter((task) => task.runId === row.id) }));
}

export type RunChange = Partial<Pick<RunRow, "state" | "reason" | "startedAt" | "endedAt">>;
export type ExecutionChange = Partial<
  Pick<ExecutionRow, "state" | "exitCode" | "attempt" | "reason" | "pid" | "startedAt" | "endedAt">
>;

/** Updates a run and records the event in one transaction. */
export async function updateRun(db: Db, key: RunKey, change: RunChange, event: NewEvent): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(runs).set(change).where(runWhere(key));
    await tx.insert(events).values(event);
  });
}

/** Updates task executions and records their events in one transaction. */
export async function updateExecutions(
  db: Db,
  key: RunKey,
  changes: { taskId: string; change: ExecutionChange; event?: NewEvent }[],
): Promise<void> {
  if (changes.length === 0) return;
  await db.transaction(async (tx) => {
    for (const { taskId, change, event } of changes) {
      await tx
        .update(taskExecutions)
        .set(change)
        .where(and(executionsWhere(key), eq(taskExecutions.taskId, taskId)));
      if (event) await tx.insert(events).values(event);
    }
  });
}

/** Runs not in a final state: after a restart these are orphans. */
export async function listUnfinishedRuns(db: Db): Promise<RunWithTasks[]> {
  const states: RunState[] = ["pending", "running"];
  const rows = await db.select().from(runs).where(inArray(runs.state, states));
  const result: RunWithTasks[] = [];
  for (const row of rows) {
    const key = { namespace: row.namespace, id: row.pipelineId, run: row.id };
    const tasks = await db.select().from(taskExecutions).where(executionsWhere(key));
    result.push({ ...row, tasks });
  }
  return result;
}

/** Ends an orphaned run: unfinished tasks fail (or are cancelled if they never started). */
export async function finishOrphanedRun(db: Db, run: RunWithTasks, now: Date): Promise<void> {
  const key = { namespace: run.namespace, id: run.pipelineId, run: run.id };
  await db.transaction(async (tx) => {
    for (const task of run.tasks) {
      const state: TaskState | undefined =
        task.state === "running" ? "failed" : task.state === "pending" ? "cancelled" : undefined;
      if (!state) continue;
      await tx
        .update(taskExecutions)
        .set({ state, reason: "orphaned", endedAt: now, pid: null })
        .where(and(executionsWhere(key), eq(taskExecutions.taskId, task.taskId)));
      await tx.insert(events).values({
        kind: "task.finished",
        namespace: run.namespace,
        pipelineId: run.pipelineId,
        runId: run.id,
        taskId: task.taskId,
        data: { state, reason: "orphaned" },
        at: now,
      });
    }
    await tx.update(runs).set({ state: "failed", reason: "orphaned", endedAt: now }).where(runWhere(key));
    await tx.insert(events).values({
      kind: "run.finished",
      namespace: run.namespace,
      pipelineId: run.pipelineId,
      runId: run.id,
      data: { state: "failed", reason: "orphaned" },
      at: now,
    });
  });
}

/** Whether the run exists (without loading its tasks). */
export async function runExists(db: Db, key: RunKey): Promise<boolean> {
  const row = await db.select({ id: runs.id }).from(runs).where(runWhere(key)).limit(1);
  return row.length > 0;
}
