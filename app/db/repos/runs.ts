// Queries for runs (read with their task executions and attempts). Every state change
// writes its event in the same transaction, so the event log never disagrees with the rows.
// Task executions' and attempts' own writes are in task-executions.ts.
import { and, desc, eq, inArray, isNotNull, lt, or, sql, type Placeholder, type SQL } from "drizzle-orm";
import type { RunActor } from "../../domain/approvals.ts";
import type { InputValues } from "../../domain/run-inputs.ts";
import type { Db, DbOrTx } from "../client.ts";
import { driverValue, msOf, prepared } from "../prepared.ts";
import { deliveries, pipelines, runs, taskAttempts, taskExecutions } from "../schema/index.ts";
import type { RunConcurrency } from "../../domain/concurrency.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { RerunScope } from "../../domain/rerun-plan.ts";
import { runKeyOf, runRowKeyString, type RunKey } from "../../domain/run-key.ts";
import type { RunTrigger } from "../../domain/run-trigger.ts";
import type { RunState, TaskState } from "../../domain/states.ts";
import { DuplicateDeliveryError, NotFoundError } from "../../domain/errors.ts";
import { appendEvents, runEvent, type NewEvent } from "./events.ts";

export type RunRow = typeof runs.$inferSelect;
export type ExecutionRow = typeof taskExecutions.$inferSelect;
export type AttemptRow = typeof taskAttempts.$inferSelect;
export type ExecutionWithAttempts = ExecutionRow & { attempts: AttemptRow[] };
export type RunWithTasks = RunRow & { tasks: ExecutionWithAttempts[] };

export interface NewRun {
  trigger: RunTrigger;
  version: number;
  /** The source commit it runs as of (pinned, or its version's); none for the local folder. */
  commit?: string;
  variables: Record<string, string>;
  /** Checked against the version's input schemas, defaults applied. */
  inputs: InputValues;
  actor?: RunActor;
  noSecrets?: boolean;
  tasks: { id: string; kind: "run" | "container" | "approval"; reusedFrom?: { run: number; execution: ExecutionRow } }[];
  concurrencyKey: string | null;
  concurrency: RunConcurrency | null;
  rerun?: { of: number; only: RerunScope };
  /** The hook delivery the run is for: stored with the run, and a second run for it refused. */
  delivery?: { extension: string; deliveryId: string };
}

/** The event of a run admitted to run on a node. */
export const startedEvent = (key: RunKey, nodeId: string, at: Date): NewEvent => ({ ...runEvent("run.started", key, { state: "running", node: nodeId }, at), nodeId });

/** A run admitted at its creation, and the node that drives it. */
export interface Admission {
  nodeId: string;
  leaseExpiresAt: Date;
}

const P = sql.placeholder;

/** The pipeline's next run id, allocated. */
const nextRunIdQuery = prepared((db) =>
  db
    .update(pipelines)
    .set({ lastRunId: sql`${pipelines.lastRunId} + 1` })
    .where(and(eq(pipelines.namespace, P("namespace")), eq(pipelines.id, P("id"))))
    .returning({ lastRunId: pipelines.lastRunId })
    .prepare(),
);

/** A run's row: every column given (nullable JSON and times as the driver stores them), so one built insert serves every run. */
const insertRunQuery = prepared((db) =>
  db
    .insert(runs)
    .values({
      namespace: P("namespace"),
      pipelineId: P("pipelineId"),
      id: P("id"),
      state: P("state"),
      trigger: P("trigger"),
      version: P("version"),
      commit: P("commit"),
      variables: P("variables"),
      inputs: P("inputs"),
      actor: driverValue("actor"),
      noSecrets: P("noSecrets"),
      concurrencyKey: P("concurrencyKey"),
      concurrency: driverValue("concurrency"),
      rerunOf: P("rerunOf"),
      rerunOnly: P("rerunOnly"),
      nodeId: P("nodeId"),
      leaseExpiresAt: driverValue("leaseExpiresAt"),
      startedAt: driverValue("startedAt"),
      createdAt: P("createdAt"),
      queuedAt: driverValue("queuedAt"),
    })
    .returning()
    .prepare(),
);
/** A task's execution in a new run: pending, or reused from the run it re-runs. */
const insertExecutionQuery = prepared((db) =>
  db
    .insert(taskExecutions)
    .values({
      namespace: P("namespace"),
      pipelineId: P("pipelineId"),
      runId: P("runId"),
      taskId: P("taskId"),
      kind: P("kind"),
      state: P("state"),
      reusedFrom: P("reusedFrom"),
      exitCode: P("exitCode"),
      attempt: P("attempt"),
      startedAt: driverValue("startedAt"),
      endedAt: driverValue("endedAt"),
    })
    .returning()
    .prepare(),
);

/** A hook delivery's row, unless one for the same delivery id is stored. */
const insertDeliveryQuery = prepared((db) =>
  db
    .insert(deliveries)
    .values({ extension: P("extension"), deliveryId: P("deliveryId"), namespace: P("namespace"), pipelineId: P("pipelineId"), runId: P("runId"), receivedAt: P("receivedAt") })
    .onConflictDoNothing()
    .prepare(),
);

/**
 * Allocates the next run id of the pipeline and stores the run with its tasks (pending, or
 * reused from the run it re-runs) and its created event: queued, or already running when
 * `admitted` (its started event too, one commit for both). With a delivery, stores that in
 * the same transaction (a recorded delivery always names its run), or throws
 * DuplicateDeliveryError when it started a run before. `writer`, here and below: the node
 * writing, stamped on the events (the event relay skips its own).
 */
export async function insertRun(tx: DbOrTx, key: PipelineKey, run: NewRun, now: Date, admitted?: Admission, writer?: string): Promise<RunWithTasks> {
  const [pipeline] = await nextRunIdQuery(tx).all({ namespace: key.namespace, id: key.id });
  if (!pipeline) throw new NotFoundError(`pipeline ${key.namespace}/${key.id} not found`);
  const id = pipeline.lastRunId;
  const [row] = await insertRunQuery(tx).all({
    namespace: key.namespace,
    pipelineId: key.id,
    id,
    state: admitted ? "running" : "queued",
    trigger: run.trigger,
    version: run.version,
    commit: run.commit || null,
    variables: run.variables,
    inputs: run.inputs,
    actor: run.actor ? JSON.stringify(run.actor) : null,
    noSecrets: run.noSecrets === true,
    concurrencyKey: run.concurrencyKey,
    concurrency: run.concurrency ? JSON.stringify(run.concurrency) : null,
    rerunOf: run.rerun?.of ?? null,
    rerunOnly: run.rerun?.only ?? null,
    nodeId: admitted?.nodeId ?? null,
    leaseExpiresAt: msOf(admitted?.leaseExpiresAt),
    startedAt: admitted ? now.getTime() : null,
    createdAt: now,
    queuedAt: now.getTime(),
  });
  const tasks: ExecutionRow[] = [];
  // One kept insert per task, in the pipeline's order (rowid keeps it).
  for (const task of run.tasks) {
    const reused = task.reusedFrom?.execution;
    const [execution] = await insertExecutionQuery(tx).all({
      namespace: key.namespace,
      pipelineId: key.id,
      runId: id,
      taskId: task.id,
      kind: task.kind,
      state: reused ? "reused" : "pending",
      reusedFrom: reused ? task.reusedFrom!.run : null,
      exitCode: reused?.exitCode ?? null,
      attempt: reused?.attempt ?? 0,
      startedAt: msOf(reused?.startedAt),
      endedAt: msOf(reused?.endedAt),
    });
    tasks.push(execution!);
  }
  const runKey = { ...key, run: id };
  await appendEvents(
    tx,
    [
      runEvent("run.created", runKey, { state: "queued", trigger: run.trigger, version: run.version, ...(run.rerun && { rerunOf: run.rerun.of, only: run.rerun.only }) }, now),
      ...(admitted ? [startedEvent(runKey, admitted.nodeId, now)] : []),
      ...(run.delivery ? [runEvent("delivery.accepted", runKey, { extension: run.delivery.extension, delivery: run.delivery.deliveryId }, now)] : []),
    ].map((event) => ({ ...event, nodeId: writer ?? event.nodeId ?? null })),
  );
  if (run.delivery) {
    // Last, so the common case costs one statement: the unique index finds a repeat, and
    // throwing rolls back everything above.
    const delivery = { ...run.delivery, namespace: key.namespace, pipelineId: key.id };
    const stored = await insertDeliveryQuery(tx).run({ ...delivery, runId: id, receivedAt: now });
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
  return { ...row!, tasks: tasks.map((task) => ({ ...task, attempts: [] })) };
}

/** Executions are inserted in the pipeline's task order; rowid keeps that order. */
const taskOrder = sql`${taskExecutions}.rowid`;

export const runWhere = (key: RunKey) => and(eq(runs.namespace, key.namespace), eq(runs.pipelineId, key.id), eq(runs.id, key.run));
export const executionsWhere = (key: RunKey) =>
  and(eq(taskExecutions.namespace, key.namespace), eq(taskExecutions.pipelineId, key.id), eq(taskExecutions.runId, key.run));
/** One task's execution in a run. */
export const executionWhere = (key: RunKey, taskId: string) => and(executionsWhere(key), eq(taskExecutions.taskId, taskId));
export const attemptsWhere = (key: RunKey) =>
  and(eq(taskAttempts.namespace, key.namespace), eq(taskAttempts.pipelineId, key.id), eq(taskAttempts.runId, key.run));

function withAttempts(executions: ExecutionRow[], attempts: AttemptRow[]): ExecutionWithAttempts[] {
  const byTask = new Map<string, AttemptRow[]>();
  for (const attempt of attempts) {
    const key = `${attempt.runId}\u0000${attempt.taskId}`;
    const list = byTask.get(key);
    if (list) list.push(attempt);
    else byTask.set(key, [attempt]);
  }
  return executions.map((execution) => ({
    ...execution,
    attempts: (byTask.get(`${execution.runId}\u0000${execution.taskId}`) ?? []).sort((a, b) => a.attempt - b.attempt),
  }));
}

/** A run key of placeholders, for queries built once (prepared.ts); `runKeyValues` fills them. */
export const RUN_KEY = { namespace: P("namespace"), id: P("id"), run: P("run") } as unknown as RunKey;
export const runKeyValues = (key: RunKey) => ({ namespace: key.namespace, id: key.id, run: key.run });
const runRowQuery = prepared((db) => db.select().from(runs).where(runWhere(RUN_KEY)).limit(1).prepare());
const executionsQuery = prepared((db) => db.select().from(taskExecutions).where(executionsWhere(RUN_KEY)).orderBy(taskOrder).prepare());
const attemptsQuery = prepared((db) => db.select().from(taskAttempts).where(attemptsWhere(RUN_KEY)).prepare());

export async function getRun(db: DbOrTx, key: RunKey): Promise<RunWithTasks | undefined> {
  const row = await getRunRow(db, key);
  if (!row) return undefined;
  const values = runKeyValues(key);
  const tasks = await executionsQuery(db).all(values);
  // A run none of whose tasks started has no attempts to read.
  const attempts = tasks.some((task) => task.attempt > 0) ? await attemptsQuery(db).all(values) : [];
  return { ...row, tasks: withAttempts(tasks, attempts) };
}

/** The run row alone, without its tasks. */
export async function getRunRow(db: DbOrTx, key: RunKey): Promise<RunRow | undefined> {
  const [row] = await runRowQuery(db).all(runKeyValues(key));
  return row;
}

export async function listRuns(db: Db, key: PipelineKey, options: { limit: number; before?: number }): Promise<RunWithTasks[]> {
  const rows = await db
    .select()
    .from(runs)
    .where(and(eq(runs.namespace, key.namespace), eq(runs.pipelineId, key.id), options.before !== undefined ? lt(runs.id, options.before) : undefined))
    .orderBy(desc(runs.id))
    .limit(options.limit);
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  const inRuns = <T extends typeof taskExecutions | typeof taskAttempts>(table: T) =>
    and(eq(table.namespace, key.namespace), eq(table.pipelineId, key.id), inArray(table.runId, ids));
  const tasks = await db.select().from(taskExecutions).where(inRuns(taskExecutions)).orderBy(taskOrder);
  const attempts = await db.select().from(taskAttempts).where(inRuns(taskAttempts));
  const all = withAttempts(tasks, attempts);
  return rows.map((row) => ({ ...row, tasks: all.filter((task) => task.runId === row.id) }));
}

/**
 * The pipeline's last finished run (successful, failed or cancelled), by when it ended; with
 * `refs`, only runs whose GANTRY_GITHUB_REF or REF variable is one of them (refs/heads/main, main).
 */
export async function lastFinishedRun(db: Db, key: PipelineKey, refs?: string[]): Promise<RunRow | undefined> {
  const [row] = await db
    .select()
    .from(runs)
    .where(
      and(
        eq(runs.namespace, key.namespace),
        eq(runs.pipelineId, key.id),
        inArray(runs.state, ["successful", "failed", "cancelled"]),
        refs === undefined
          ? undefined
          : or(
              inArray(sql`json_extract(${runs.variables}, '$.GANTRY_GITHUB_REF')`, refs),
              inArray(sql`json_extract(${runs.variables}, '$.REF')`, refs),
            ),
      ),
    )
    .orderBy(desc(runs.endedAt), desc(runs.id))
    .limit(1);
  return row;
}

export type RunChange = Partial<Pick<RunRow, "state" | "reason" | "startedAt" | "endedAt" | "nodeId" | "leaseExpiresAt">>;
/** Updates a run and records the event in one transaction. */
export async function updateRun(db: Db, key: RunKey, change: RunChange, event: NewEvent): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.update(runs).set(change).where(runWhere(key));
    await appendEvents(tx, event);
  });
}

/**
 * Records the cluster node that took a run's first task, unless one is recorded already;
 * returns the run's node either way (a task placed earlier by another process wins).
 */
export async function recordPlacementNode(db: Db, key: RunKey, node: string): Promise<string> {
  await db.update(runs).set({ placementNode: node }).where(and(runWhere(key), sql`${runs.placementNode} is null`));
  const [row] = await db.select({ placementNode: runs.placementNode }).from(runs).where(runWhere(key)).limit(1);
  return row?.placementNode ?? node;
}

/** The run's end; `unlessCancelled`: only while no cancel is stored. */
const finishQueryOf = (unlessCancelled: boolean) =>
  prepared((db) =>
    db
      .update(runs)
      .set({ state: driverValue("state"), reason: driverValue("reason"), endedAt: driverValue("endedAt"), leaseExpiresAt: null })
      .where(and(runWhere(RUN_KEY), unlessCancelled ? sql`${runs.cancelRequestedAt} is null` : undefined))
      .returning({ id: runs.id })
      .prepare(),
  );
const finishQuery = finishQueryOf(false);
const finishUnlessCancelledQuery = finishQueryOf(true);

/**
 * Ends a run in the caller's transaction: state, reason and end time with the run.finished
 * event; its lease is let go. With `unlessCancelled`, only while no cancel is stored (false,
 * writing nothing, when one is: the caller ends it cancelled instead).
 */
export async function finishRunIn(
  tx: DbOrTx,
  key: RunKey,
  end: { state: RunState; reason: string | null },
  now: Date,
  options: { unlessCancelled?: boolean; writer?: string } = {},
): Promise<boolean> {
  const ended = await (options.unlessCancelled ? finishUnlessCancelledQuery : finishQuery)(tx).all({
    ...runKeyValues(key),
    state: end.state,
    reason: end.reason,
    endedAt: now.getTime(),
  });
  if (ended.length === 0) return false;
  await appendEvents(tx, { ...runEvent("run.finished", key, { state: end.state, ...(end.reason && { reason: end.reason }) }, now), nodeId: options.writer ?? null });
  return true;
}

/** Ends a run nobody asked to cancel; false when somebody did meanwhile (see finishRunIn). */
export async function finishUncancelledRun(db: Db, key: RunKey, end: { state: RunState; reason: string | null }, now: Date, writer?: string): Promise<boolean> {
  return db.transaction((tx) => finishRunIn(tx, key, end, now, { unlessCancelled: true, ...(writer !== undefined && { writer }) }));
}

/** Ends a run (see finishRunIn) in a transaction of its own. */
export async function finishRun(db: Db, key: RunKey, end: { state: RunState; reason: string | null }, now: Date, writer?: string): Promise<void> {
  await db.transaction((tx) => finishRunIn(tx, key, end, now, writer !== undefined ? { writer } : {}).then(() => undefined));
}

/**
 * Ends a run whose work will not go on (cancelled in the queue, or its work is gone) in the
 * caller's transaction: running tasks (and their attempts) fail and pending ones are
 * cancelled, with `taskReason`; then the run ends with its own reason.
 */
export async function endRunWithTasks(tx: DbOrTx, key: RunKey, end: { state: RunState; reason: string; taskReason: string }, now: Date, writer?: string): Promise<void> {
  const ended: { taskId: string; state: TaskState }[] = [];
  for (const [from, to] of [["running", "failed"], ["waiting", "cancelled"], ["pending", "cancelled"]] as const) {
    const rows = await tx
      .update(taskExecutions)
      .set({ state: to, reason: end.taskReason, endedAt: now, leaseExpiresAt: null })
      .where(and(executionsWhere(key), eq(taskExecutions.state, from)))
      .returning({ taskId: taskExecutions.taskId });
    ended.push(...rows.map((row) => ({ taskId: row.taskId, state: to })));
  }
  await tx
    .update(taskAttempts)
    .set({ state: "failed", reason: end.taskReason, endedAt: now })
    .where(and(attemptsWhere(key), eq(taskAttempts.state, "running")));
  if (ended.length > 0) {
    await appendEvents(tx, ended.map(({ taskId, state }) => ({ ...runEvent("task.finished", key, { state, reason: end.taskReason }, now, taskId), nodeId: writer ?? null })));
  }
  await finishRunIn(tx, key, { state: end.state, reason: end.reason }, now, writer !== undefined ? { writer } : {});
}

/** Whether the run exists (without loading its tasks). */
export async function runExists(db: Db, key: RunKey): Promise<boolean> {
  const row = await db.select({ id: runs.id }).from(runs).where(runWhere(key)).limit(1);
  return row.length > 0;
}

/** The run with its tasks; NotFoundError (404) naming it when it does not exist. */
export async function requireRun(db: DbOrTx, key: RunKey): Promise<RunWithTasks> {
  const run = await getRun(db, key);
  if (!run) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
  return run;
}

/** The run's execution of a task; NotFoundError (404) naming both when the run has no such task. */
export function requireExecution(run: RunWithTasks, taskId: string): ExecutionWithAttempts {
  const execution = run.tasks.find((candidate) => candidate.taskId === taskId);
  if (!execution) throw new NotFoundError(`task ${taskId} is not part of run ${run.id} of ${run.namespace}/${run.pipelineId}`);
  return execution;
}

/** Throws NotFoundError (404) naming the run when it does not exist. */
export async function requireRunExists(db: Db, key: RunKey): Promise<void> {
  if (!(await runExists(db, key))) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
}

/**
 * Keys ("ns/id#run") of the runs not yet ended, and of the runs they re-run: their
 * containers, workspaces and tokens stay (a re-run of failed tasks copies its original's
 * workspace when it starts).
 */
export async function unfinishedRunKeys(db: Db): Promise<Set<string>> {
  const states: RunState[] = ["queued", "pending", "running"];
  const rows = await db
    .select({ namespace: runs.namespace, pipelineId: runs.pipelineId, id: runs.id, rerunOf: runs.rerunOf })
    .from(runs)
    .where(inArray(runs.state, states));
  const keys = new Set(rows.map(runRowKeyString));
  for (const row of rows) if (row.rerunOf !== null) keys.add(runRowKeyString({ ...row, id: row.rerunOf }));
  return keys;
}

// Read by each node's loop every few hundred ms.
const cancelRequestsQuery = prepared((db) =>
  db
    .select({ namespace: runs.namespace, pipelineId: runs.pipelineId, id: runs.id, reason: runs.cancelReason })
    .from(runs)
    .where(and(eq(runs.nodeId, P("nodeId")), eq(runs.state, "running"), isNotNull(runs.cancelRequestedAt)))
    .prepare(),
);

/** Runs of this node asked to cancel, with the reason they will end with: the node acts on each once. */
export async function listCancelRequests(db: Db, nodeId: string): Promise<{ key: RunKey; reason: string }[]> {
  const rows = await cancelRequestsQuery(db).all({ nodeId });
  return rows.map((row) => ({ key: runKeyOf(row), reason: row.reason ?? "cancelled" }));
}

/**
 * Stores a cancel request for a running run (the first one counts) with its event; `reason`
 * is how the run will end ("cancelled by alice", "superseded by run 12").
 */
export async function requestCancel(tx: DbOrTx, key: RunKey, reason: string, now: Date, writer?: string): Promise<boolean> {
  const updated = await tx
    .update(runs)
    .set({ cancelRequestedAt: now, cancelReason: reason })
    .where(and(runWhere(key), eq(runs.state, "running"), sql`${runs.cancelRequestedAt} is null`))
    .returning({ id: runs.id });
  if (updated.length === 0) return false;
  await appendEvents(tx, { ...runEvent("run.cancel_requested", key, { reason }, now), nodeId: writer ?? null });
  return true;
}

/**
 * Runs a node may take: with no node or an expired lease, and with `own`, those under its
 * own id (left by its previous process: it takes them back at start without waiting).
 */
export function claimableRuns(nodeId: string | Placeholder, now: Date | SQL, own: boolean) {
  return and(
    eq(runs.state, "running"),
    or(own ? eq(runs.nodeId, nodeId) : undefined, sql`${runs.nodeId} is null`, and(sql`${runs.nodeId} <> ${nodeId}`, lt(runs.leaseExpiresAt, now))),
  );
}
