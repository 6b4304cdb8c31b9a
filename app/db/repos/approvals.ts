// Queries for approval gates: a gate starting to wait, a decision written by whoever
// decides (on any node), the driving node applying it, and the lists of waiting gates.
import { and, desc, eq, inArray, isNotNull, isNull, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "../client.ts";
import { runs, taskExecutions } from "../schema/index.ts";
import type { GateDecision, RunActor, WaitingGate } from "../../domain/approvals.ts";
import { runKeyOf, type RunKey } from "../../domain/run-key.ts";
import { appendEvents, type NewEvent } from "./events.ts";
import type { ClaimResult } from "./task-executions.ts";
import type { RunState, TaskState } from "../../domain/states.ts";
import { executionWhere, runWhere } from "./runs.ts";


/** The gate starts waiting: stored with its message and deadline, only while the run is this node's. False when it is not any more. */
export async function enterWaiting(db: Db, key: RunKey, taskId: string, gate: WaitingGate, nodeId: string, now: Date, event: NewEvent): Promise<boolean> {
  return db.transaction(async (tx) => {
    const updated = await tx
      .update(taskExecutions)
      .set({ state: "waiting", gate, startedAt: sql`coalesce(${taskExecutions.startedAt}, ${now.getTime()})`, endedAt: null, reason: null, nodeId })
      .where(
        and(
          executionWhere(key, taskId),
          sql`exists (select 1 from ${runs} where ${runWhere(key)} and ${runs.state} = 'running' and ${runs.nodeId} = ${nodeId})`,
        ),
      )
      .returning({ taskId: taskExecutions.taskId });
    if (updated.length === 0) return false;
    await appendEvents(tx, event);
    return true;
  });
}

/**
 * Marks a gate as being decided by autoApprove (state running), only while the run is this
 * node's and not asked to cancel; otherwise says which (as claiming a task's attempt does).
 */
export async function startAutoApprove(db: Db, key: RunKey, taskId: string, nodeId: string, now: Date, event: NewEvent): Promise<ClaimResult> {
  return db.transaction(async (tx) => {
    const updated = await tx
      .update(taskExecutions)
      .set({ state: "running", startedAt: sql`coalesce(${taskExecutions.startedAt}, ${now.getTime()})`, nodeId })
      .where(
        and(
          executionWhere(key, taskId),
          sql`exists (select 1 from ${runs} where ${runWhere(key)} and ${runs.state} = 'running' and ${runs.nodeId} = ${nodeId} and ${runs.cancelRequestedAt} is null)`,
        ),
      )
      .returning({ taskId: taskExecutions.taskId });
    if (updated.length === 0) {
      const [run] = await tx.select({ state: runs.state, nodeId: runs.nodeId, cancelReason: runs.cancelReason, cancelRequestedAt: runs.cancelRequestedAt }).from(runs).where(runWhere(key)).limit(1);
      if (run?.state === "running" && run.nodeId === nodeId && run.cancelRequestedAt) return { status: "cancelled", reason: run.cancelReason ?? "cancelled" };
      return { status: "lost" };
    }
    await appendEvents(tx, event);
    return { status: "claimed" };
  });
}

/**
 * Writes a decision for a gate that is waiting and undecided, in a running run: the first
 * decision counts. Returns false when there was nothing to decide.
 */
export async function recordDecision(tx: DbOrTx, key: RunKey, taskId: string, decision: GateDecision, event: NewEvent): Promise<boolean> {
  const updated = await tx
    .update(taskExecutions)
    .set({ decision })
    .where(
      and(
        executionWhere(key, taskId),
        eq(taskExecutions.state, "waiting"),
        isNull(taskExecutions.decision),
        sql`exists (select 1 from ${runs} where ${runWhere(key)} and ${runs.state} = 'running')`,
      ),
    )
    .returning({ taskId: taskExecutions.taskId });
  if (updated.length === 0) return false;
  await appendEvents(tx, event);
  return true;
}

export interface GateRead {
  state: TaskState;
  kind: "run" | "container" | "approval";
  gate: WaitingGate | null;
  decision: GateDecision | null;
  runState: RunState;
  actor: RunActor | null;
  cancelRequestedAt: Date | null;
}

/** The gate's execution: its state, gate and decision, and the run's actor (who started it). */
export async function readGate(db: DbOrTx, key: RunKey, taskId: string): Promise<GateRead | undefined> {
  const [row] = await db
    .select({
      state: taskExecutions.state,
      kind: taskExecutions.kind,
      gate: taskExecutions.gate,
      decision: taskExecutions.decision,
      runState: runs.state,
      actor: runs.actor,
      cancelRequestedAt: runs.cancelRequestedAt,
    })
    .from(taskExecutions)
    .innerJoin(runs, and(eq(runs.namespace, taskExecutions.namespace), eq(runs.pipelineId, taskExecutions.pipelineId), eq(runs.id, taskExecutions.runId)))
    .where(executionWhere(key, taskId))
    .limit(1);
  return row;
}

/** Gates with a decision not yet applied, of runs this node drives (the decision was made through another node). */
export async function listDecidedGates(db: Db, nodeId: string): Promise<{ key: RunKey; taskId: string }[]> {
  const rows = await db
    .select({ namespace: taskExecutions.namespace, pipelineId: taskExecutions.pipelineId, id: taskExecutions.runId, taskId: taskExecutions.taskId })
    .from(taskExecutions)
    .innerJoin(runs, and(eq(runs.namespace, taskExecutions.namespace), eq(runs.pipelineId, taskExecutions.pipelineId), eq(runs.id, taskExecutions.runId)))
    .where(and(eq(runs.nodeId, nodeId), eq(runs.state, "running"), eq(taskExecutions.state, "waiting"), isNotNull(taskExecutions.decision)));
  return rows.map((row) => ({ key: runKeyOf(row), taskId: row.taskId }));
}

export interface WaitingGateRow {
  namespace: string;
  pipelineId: string;
  runId: number;
  taskId: string;
  gate: WaitingGate;
  actor: RunActor | null;
}

/** Every gate waiting now (undecided), newest first; callers filter by who may see and decide. */
export async function listWaitingGates(db: Db, options: { limit?: number; keys?: RunKey[] } = {}): Promise<WaitingGateRow[]> {
  const rows = await db
    .select({
      namespace: taskExecutions.namespace,
      pipelineId: taskExecutions.pipelineId,
      runId: taskExecutions.runId,
      taskId: taskExecutions.taskId,
      gate: taskExecutions.gate,
      actor: runs.actor,
    })
    .from(taskExecutions)
    .innerJoin(runs, and(eq(runs.namespace, taskExecutions.namespace), eq(runs.pipelineId, taskExecutions.pipelineId), eq(runs.id, taskExecutions.runId)))
    .where(and(eq(taskExecutions.state, "waiting"), isNull(taskExecutions.decision), eq(runs.state, "running")))
    .orderBy(desc(taskExecutions.startedAt))
    // Filtered by the caller's permissions afterwards: generous, so a viewer's own are not cut off by others'.
    .limit(options.limit ?? 1000);
  return rows.filter((row): row is WaitingGateRow => row.gate !== null);
}

/** autoApprove's decision on a gate that never waited (it is running): stored with its event. */
export async function recordAutoDecision(db: Db, key: RunKey, taskId: string, decision: GateDecision, event: NewEvent): Promise<boolean> {
  return db.transaction(async (tx) => {
    const updated = await tx
      .update(taskExecutions)
      .set({ decision })
      .where(and(executionWhere(key, taskId), eq(taskExecutions.state, "running"), isNull(taskExecutions.decision)))
      .returning({ taskId: taskExecutions.taskId });
    if (updated.length === 0) return false;
    await appendEvents(tx, event);
    return true;
  });
}

/** The gate ends with its decision (successful or failed, and why), while it still waits (or autoApprove runs). */
export async function applyDecision(
  db: Db,
  key: RunKey,
  taskId: string,
  decision: GateDecision,
  end: { state: "successful" | "failed"; reason: string },
  now: Date,
  event: NewEvent,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const updated = await tx
      .update(taskExecutions)
      .set({ state: end.state, reason: end.reason, decision, endedAt: now, leaseExpiresAt: null, exitCode: null })
      .where(and(executionWhere(key, taskId), inArray(taskExecutions.state, ["waiting", "running"])))
      .returning({ taskId: taskExecutions.taskId });
    if (updated.length === 0) return false;
    await appendEvents(tx, event);
    return true;
  });
}
