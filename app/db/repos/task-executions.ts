// Queries for task executions and their attempts: claiming an attempt before its work
// starts, marking it timing out, recording how it ended (and when a retry is due), and
// ending a task outside an attempt. Every change writes its event in the same transaction.
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "../client.ts";
import { runs, taskAttempts, taskExecutions } from "../schema/index.ts";
import type { RunKey } from "../../domain/run-key.ts";
import type { RunEnd } from "../../domain/run-plan.ts";
import { STOPPING, type TaskState } from "../../domain/states.ts";
import type { LogKey } from "../../stores/logs.ts";
import { appendEvents, type NewEvent } from "./events.ts";
import { driverValue, prepared } from "../prepared.ts";
import { attemptsWhere, executionWhere, executionsWhere, finishRunIn, RUN_KEY, runKeyValues, runWhere, type AttemptRow, type ExecutionRow, type ExecutionWithAttempts } from "./runs.ts";

export type ExecutionChange = Partial<
  Pick<ExecutionRow, "state" | "exitCode" | "attempt" | "reason" | "startedAt" | "endedAt" | "nodeId" | "leaseExpiresAt" | "retryAt">
>;

/** Updates task executions and records their events in one transaction. */
export async function updateExecutions(db: Db, key: RunKey, changes: { taskId: string; change: ExecutionChange; event?: NewEvent }[]): Promise<void> {
  if (changes.length === 0) return;
  await db.transaction(async (tx) => {
    for (const { taskId, change, event } of changes) {
      await tx
        .update(taskExecutions)
        .set(change)
        .where(executionWhere(key, taskId));
      if (event) await appendEvents(tx, event);
    }
  });
}

export interface AttemptClaim {
  taskId: string;
  attempt: number;
  executor: "run" | "container" | "swarm";
  ref: string;
  nodeId: string;
  leaseExpiresAt: Date;
  logFrom: number;
  now: Date;
  event: NewEvent;
}

/** What came of a claim: the attempt is this node's, the run is another node's now, or a cancel was asked for. */
export type ClaimResult = { status: "claimed" } | { status: "lost" } | { status: "cancelled"; reason: string };

const P = sql.placeholder;

/** The claim's update: the execution runs under this node's lease, only while the node drives the run and no cancel is stored. */
const claimQuery = prepared((db) =>
  db
    .update(taskExecutions)
    .set({
      state: "running",
      attempt: driverValue("attempt"),
      nodeId: driverValue("nodeId"),
      leaseExpiresAt: driverValue("leaseExpiresAt"),
      startedAt: sql`coalesce(${taskExecutions.startedAt}, ${P("now")})`,
      endedAt: null,
      reason: null,
      // The wait for this attempt is over.
      retryAt: null,
    })
    .where(
      and(
        executionsWhere(RUN_KEY),
        eq(taskExecutions.taskId, P("taskId")),
        sql`exists (select 1 from ${runs} where ${runWhere(RUN_KEY)} and ${runs.state} = 'running' and ${runs.nodeId} = ${P("nodeId")} and ${runs.cancelRequestedAt} is null)`,
      ),
    )
    .returning({ taskId: taskExecutions.taskId })
    .prepare(),
);

/** The claimed attempt, stored with its reference. */
const storeAttemptQuery = prepared((db) =>
  db
    .insert(taskAttempts)
    .values({
      namespace: P("namespace"),
      pipelineId: P("id"),
      runId: P("run"),
      taskId: P("taskId"),
      attempt: P("attempt"),
      state: "running",
      executor: P("executor"),
      ref: P("ref"),
      nodeId: P("nodeId"),
      logFrom: P("logFrom"),
      startedAt: driverValue("startedAt"),
    })
    // The same attempt again: its work was never found after a restart, so it starts anew.
    .onConflictDoUpdate({
      target: [taskAttempts.namespace, taskAttempts.pipelineId, taskAttempts.runId, taskAttempts.taskId, taskAttempts.attempt],
      set: {
        state: "running",
        ref: driverValue("ref"),
        nodeId: driverValue("nodeId"),
        logFrom: driverValue("logFrom"),
        startedAt: driverValue("startedAt"),
        endedAt: null,
        reason: null,
        exitCode: null,
      },
    })
    .prepare(),
);

/**
 * Claims a task's next attempt before any work starts: the execution becomes running
 * under this node's lease and the attempt is stored with its reference, only while the
 * node still drives the run and nobody asked to cancel it (a cancel made through another
 * node is seen here at once, not only at the node's next look).
 */
export async function claimAttempt(db: Db, key: RunKey, claim: AttemptClaim): Promise<ClaimResult> {
  return db.transaction(async (tx) => {
    // The common case in one statement: the run is still this node's and not cancelled.
    const keyValues = runKeyValues(key);
    const claimed = await claimQuery(tx).all({
      ...keyValues,
      taskId: claim.taskId,
      attempt: claim.attempt,
      nodeId: claim.nodeId,
      leaseExpiresAt: claim.leaseExpiresAt.getTime(),
      now: claim.now.getTime(),
    });
    if (claimed.length === 0) {
      // Why not: another node drives the run now, or a cancel was asked for.
      const [run] = await tx.select({ cancelRequestedAt: runs.cancelRequestedAt, cancelReason: runs.cancelReason, state: runs.state, nodeId: runs.nodeId }).from(runs).where(runWhere(key)).limit(1);
      if (run?.state === "running" && run.nodeId === claim.nodeId && run.cancelRequestedAt) return { status: "cancelled", reason: run.cancelReason ?? "cancelled" };
      return { status: "lost" };
    }
    await storeAttemptQuery(tx).run({
      ...keyValues,
      taskId: claim.taskId,
      attempt: claim.attempt,
      executor: claim.executor,
      ref: claim.ref,
      nodeId: claim.nodeId,
      logFrom: claim.logFrom,
      startedAt: claim.now.getTime(),
    });
    await appendEvents(tx, claim.event);
    return { status: "claimed" };
  });
}

export interface AttemptEnd {
  state: "successful" | "failed" | "cancelled";
  exitCode: number | null;
  reason: string | null;
  logTo: number;
  now: Date;
}

const runNodeQuery = prepared((db) => db.select({ nodeId: runs.nodeId }).from(runs).where(runWhere(RUN_KEY)).limit(1).prepare());
const endAttemptQuery = prepared((db) =>
  db
    .update(taskAttempts)
    .set({ state: driverValue("state"), exitCode: driverValue("exitCode"), reason: driverValue("reason"), logTo: driverValue("logTo"), endedAt: driverValue("endedAt") })
    .where(and(attemptsWhere(RUN_KEY), eq(taskAttempts.taskId, P("taskId")), eq(taskAttempts.attempt, P("attempt"))))
    .prepare(),
);

/** The task's execution ends with the attempt: its lease and any wait let go. */
const endExecutionQuery = prepared((db) =>
  db
    .update(taskExecutions)
    .set({ state: driverValue("state"), exitCode: driverValue("exitCode"), reason: driverValue("reason"), endedAt: driverValue("endedAt"), leaseExpiresAt: null, retryAt: null })
    .where(executionWhere(RUN_KEY, P("taskId") as unknown as string))
    .prepare(),
);

/** How a task's execution ends with its last attempt. */
export interface ExecutionEnd {
  state: TaskState;
  exitCode: number | null;
  reason: string | null;
  endedAt: Date;
}

/**
 * Records how an attempt ended; with `change`, the task's execution ends too (its event
 * written), otherwise the task waits for its next attempt, due at `retryAt` (null: at
 * once). Stored with the attempt's end, so a restarted server waits out what is left.
 * With `runEnd` (its last task ended), the run ends in the same transaction unless a cancel
 * is stored (finishRunIn); true when it did.
 */
export async function endAttempt(
  db: Db,
  key: RunKey,
  taskId: string,
  attempt: number,
  end: AttemptEnd,
  final: { change: ExecutionEnd; event: NewEvent } | { retryAt: Date | null; event: NewEvent },
  runEnd?: RunEnd,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    // Only while the node recording it (the event's) still drives the run: one whose lease
    // lapsed leaves alone what the node that took the run over records of this attempt.
    const writer = final.event.nodeId;
    const keyValues = runKeyValues(key);
    if (writer) {
      const [run] = await runNodeQuery(tx).all(keyValues);
      if (run && run.nodeId !== writer) return false;
    }
    await endAttemptQuery(tx).run({
      ...keyValues,
      taskId,
      attempt,
      state: end.state,
      exitCode: end.exitCode,
      reason: end.reason,
      logTo: end.logTo,
      endedAt: end.now.getTime(),
    });
    if ("change" in final) {
      const { state, exitCode, reason, endedAt } = final.change;
      await endExecutionQuery(tx).run({ ...keyValues, taskId, state, exitCode, reason, endedAt: endedAt.getTime() });
    } else {
      await tx
        .update(taskExecutions)
        .set({ retryAt: final.retryAt })
        .where(executionWhere(key, taskId));
    }
    await appendEvents(tx, final.event);
    return runEnd !== undefined && "change" in final && (await finishRunIn(tx, key, runEnd, end.now, { unlessCancelled: true, ...(writer && { writer }) }));
  });
}

/**
 * A task's execution ends outside an attempt's own end (a cancel before it could start, an
 * internal error), and its attempt still marked running with it.
 */
export async function endExecution(
  db: Db,
  key: RunKey,
  taskId: string,
  end: { state: "failed" | "cancelled"; reason: string },
  now: Date,
  event: NewEvent,
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(taskAttempts)
      .set({ state: end.state, reason: end.reason, endedAt: now })
      .where(and(attemptsWhere(key), eq(taskAttempts.taskId, taskId), eq(taskAttempts.state, "running")));
    // Only a task not yet ended: one another node ended (a gate's decision applied) keeps its end.
    const ended = await tx
      .update(taskExecutions)
      .set({ state: end.state, reason: end.reason, endedAt: now, leaseExpiresAt: null, retryAt: null })
      .where(and(executionWhere(key, taskId), inArray(taskExecutions.state, ["pending", "running", "waiting"])))
      .returning({ taskId: taskExecutions.taskId });
    if (ended.length > 0) await appendEvents(tx, event);
  });
}

/**
 * A running attempt passed its timeout and is being stopped: the reason is stored on it and
 * its execution at once (they show "timing out" through the grace period), only while that
 * attempt still runs. Its end replaces the reason.
 */
export async function markTimingOut(db: Db, key: RunKey, taskId: string, attempt: number, reason: string, event: NewEvent): Promise<boolean> {
  return db.transaction(async (tx) => {
    const marked = await tx
      .update(taskExecutions)
      .set({ reason })
      .where(and(executionWhere(key, taskId), eq(taskExecutions.attempt, attempt), eq(taskExecutions.state, "running")))
      .returning({ taskId: taskExecutions.taskId });
    if (marked.length === 0) return false;
    await tx
      .update(taskAttempts)
      .set({ reason })
      .where(and(attemptsWhere(key), eq(taskAttempts.taskId, taskId), eq(taskAttempts.attempt, attempt), eq(taskAttempts.state, "running")));
    await appendEvents(tx, event);
    return true;
  });
}

/**
 * Why a running attempt's work has not begun ("waiting for a node: ..."), stored on it and its
 * execution while it waits; null once it has begun. Only while that attempt runs and is not
 * timing out (the timeout's reason stays). True when it was stored.
 */
export async function noteWaiting(db: Db, key: RunKey, taskId: string, attempt: number, reason: string | null): Promise<boolean> {
  return db.transaction(async (tx) => {
    const noted = await tx
      .update(taskExecutions)
      .set({ reason })
      .where(and(executionWhere(key, taskId), eq(taskExecutions.attempt, attempt), eq(taskExecutions.state, "running"), sql`coalesce(${taskExecutions.reason}, '') not like ${`%${STOPPING}`}`))
      .returning({ taskId: taskExecutions.taskId });
    if (noted.length === 0) return false;
    await tx
      .update(taskAttempts)
      .set({ reason })
      .where(and(attemptsWhere(key), eq(taskAttempts.taskId, taskId), eq(taskAttempts.attempt, attempt), eq(taskAttempts.state, "running")));
    return true;
  });
}

/** A task's log: its own, or for a reused task the one of the run it was executed in. */
export const logKeyOf = (key: RunKey, execution: { taskId: string; reusedFrom: number | null }): LogKey => ({
  namespace: key.namespace,
  pipeline: key.id,
  run: execution.reusedFrom ?? key.run,
  task: execution.taskId,
});

/** A task's attempts; a reused task's are those of the run it was executed in. */
export async function attemptsOf(db: DbOrTx, key: RunKey, execution: ExecutionWithAttempts): Promise<AttemptRow[]> {
  if (execution.reusedFrom === null) return execution.attempts;
  return db
    .select()
    .from(taskAttempts)
    .where(and(attemptsWhere({ ...key, run: execution.reusedFrom }), eq(taskAttempts.taskId, execution.taskId)))
    .orderBy(taskAttempts.attempt);
}

/** The executor each attempt of a run's tasks was stored under, by "<task>#<attempt>". */
export async function attemptExecutors(db: Db, key: RunKey): Promise<Map<string, AttemptRow["executor"]>> {
  const rows = await db.select({ taskId: taskAttempts.taskId, attempt: taskAttempts.attempt, executor: taskAttempts.executor }).from(taskAttempts).where(attemptsWhere(key));
  return new Map(rows.map((row) => [`${row.taskId}#${row.attempt}`, row.executor]));
}
