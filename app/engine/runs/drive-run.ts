// Drives a run this node holds: prepares its workspace, follows tasks a restart left in
// flight (or waiting to retry), walks its DAG with the pure planner (skips, cancels,
// starts within its parallelism), ends it, and lets the next queued run of its key in.
import { existsSync } from "node:fs";
import { chmod, cp, mkdir, rename, rm } from "node:fs/promises";
import { endRunWithTasks, finishRun, finishUncancelledRun, getRunRow, type RunWithTasks } from "../../db/repos/runs.ts";
import { updateExecutions } from "../../db/repos/task-executions.ts";
import { planRun } from "../../domain/run-plan.ts";
import { runKeyOf, runKeyString, type RunKey } from "../../domain/run-key.ts";
import { drivenRun, workspacePath, type DrivenRun } from "./driven-run.ts";
import type { EngineContext } from "./engine-context.ts";
import { executeTask, executorKindOf } from "./task-attempt.ts";
import { awaitApproval } from "./await-approval.ts";

/** The run's work can no longer be found (its version's bundle, the workspace it was to start from). */
export class WorkLostError extends Error {}

/**
 * Starts driving a run this node was admitted or took over. Tasks a restart left running
 * are found again through their latest attempt (or, between attempts, wait out their
 * stored retry time); everything else follows the plan.
 */
export async function startDriving(ctx: EngineContext, row: RunWithTasks, recovered: boolean): Promise<void> {
  const key = runKeyOf(row);
  if (ctx.active.has(runKeyString(key))) return;
  const version = await ctx.version(key, row.version);
  if (!version || !existsSync(version.bundlePath)) {
    await failRun(ctx, key, `version ${row.version} of ${key.namespace}/${key.id} can no longer be found (its bundle is gone)`);
    // The next of its key may start.
    await ctx.admit([row.concurrencyKey]);
    return;
  }
  const run = drivenRun(row, version.spec, version.bundlePath, ctx.workspacesDir, recovered);
  ctx.active.set(runKeyString(key), run);
  void (async () => {
    try {
      await prepareWorkspace(ctx, run);
      for (const execution of row.tasks) {
        if (execution.state !== "running" && execution.state !== "waiting") continue;
        const task = run.spec.tasks.find((candidate) => candidate.id === execution.taskId);
        if (!task) continue;
        run.inFlight.add(task.id);
        if (task.kind === "approval") {
          // A gate goes on waiting (its timeout counting from when it began), or asks autoApprove again.
          void awaitApproval(ctx, run, task, execution).finally(() => schedule(ctx, run));
          continue;
        }
        const latest = execution.attempts[execution.attempts.length - 1];
        // A task waiting to retry when the server stopped waits out what is left of it.
        void executeTask(ctx, run, task, latest, execution.retryAt).finally(() => schedule(ctx, run));
      }
      await schedule(ctx, run);
      await run.finished;
      if (!run.lost && !ctx.stopped) await endRun(ctx, run);
    } catch (error) {
      if (ctx.stopped || run.lost) return;
      const reason = error instanceof WorkLostError ? error.message : `internal error: ${(error as Error).message}`;
      if (!(error instanceof WorkLostError)) console.error(`run ${runKeyString(key)} failed internally:`, error);
      // Whatever went wrong, the run ends: nothing stays running forever.
      await failRun(ctx, key, reason).catch((writeError) => console.error(`run ${runKeyString(key)}: recording its end failed:`, writeError));
    } finally {
      await afterRun(ctx, run);
    }
  })();
}

/** A run that cannot go on (its work is gone, an internal error) ends failed with its unfinished tasks, saying why. */
async function failRun(ctx: EngineContext, key: RunKey, reason: string): Promise<void> {
  await ctx.db.transaction((tx) => endRunWithTasks(tx, key, { state: "failed", reason, taskReason: reason }, ctx.now(), ctx.node.id));
  ctx.publish("run.finished", key);
}

/**
 * The run's shared directory, world-writable (containers may run as any user and share it
 * with run() tasks). A re-run of failed tasks starts from a copy of its original's: copied
 * beside it and renamed into place, so a restart mid-copy copies again.
 */
async function prepareWorkspace(ctx: EngineContext, run: DrivenRun): Promise<void> {
  if (run.seedFrom && !existsSync(run.workspace)) {
    const source = workspacePath(ctx.workspacesDir, run.seedFrom);
    if (!existsSync(source)) throw new WorkLostError(`the workspace of run ${run.seedFrom.run} was pruned before it could be copied for this re-run`);
    const copying = `${run.workspace}.copying`;
    await rm(copying, { recursive: true, force: true });
    await cp(source, copying, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    await rename(copying, run.workspace);
  }
  // A warm run() runner's folder becomes a new run's workspace, and that runner its first
  // run() task's (the pool may wait a moment for one still booting): only while a task slot
  // is free. Runs queued behind the slots (a burst of webhook deliveries) would each keep an
  // idle runner, hundreds of processes, and boot its replacement.
  const runTasks = run.spec.tasks.filter((task) => task.kind === "run" && task.runNetwork === undefined && executorKindOf(ctx, task) === "run").length;
  const slotFree = () => ctx.limiter.free;
  const adopted = !run.seedFrom && slotFree() && ((await ctx.executors.run?.prepareWorkspace?.(run.workspace, runTasks, slotFree)) ?? false);
  // Off the event loop: behind the database's fsyncs a mkdir can wait on the file system's
  // journal for a millisecond, and a burst of new runs would stall everything.
  if (!adopted) await mkdir(run.workspace, { recursive: true });
  if (ctx.ownWorkspace) await ctx.ownWorkspace(run.workspace);
  else await chmod(run.workspace, 0o777);
  // A re-run's copy was made by the server: its files go to whoever runs the tasks.
  if (run.seedFrom && ctx.reclaimWorkspace) await ctx.reclaimWorkspace(run.workspace);
}

/** Applies the planner's next step: skips and cancels in one transaction, then starts what may start. */
export function schedule(ctx: EngineContext, run: DrivenRun): Promise<void> {
  const pass = run.scheduling.then(() => (ctx.stopped || run.lost ? undefined : schedulePass(ctx, run)));
  run.scheduling = pass.catch(() => undefined);
  return pass;
}

async function schedulePass(ctx: EngineContext, run: DrivenRun): Promise<void> {
  const plan = planRun({
    tasks: run.spec.tasks,
    states: run.states,
    inFlight: run.inFlight,
    parallelism: run.spec.parallelism,
    gates: run.gates,
    ...(run.cancelled !== undefined && { cancelled: run.cancelled }),
  });
  const now = ctx.now();
  const changes = [
    ...plan.skip.map(({ task, reason }) => ({ task, state: "skipped" as const, reason })),
    ...plan.cancel.map((task) => ({ task, state: "cancelled" as const, reason: "run cancelled" })),
  ];
  await updateExecutions(
    ctx.db,
    run.key,
    changes.map(({ task, state, reason }) => ({
      taskId: task,
      change: { state, reason, endedAt: now },
      event: ctx.event("task.finished", run.key, { state, reason }, task),
    })),
  );
  for (const { task, state } of changes) {
    run.states.set(task, state);
    ctx.publish("task.finished", run.key, task);
  }
  for (const id of plan.start) {
    run.inFlight.add(id);
    const task = run.spec.tasks.find((candidate) => candidate.id === id)!;
    void (task.kind === "approval" ? awaitApproval(ctx, run, task) : executeTask(ctx, run, task)).finally(() => schedule(ctx, run));
  }
  if (plan.end) run.finish();
}

/**
 * Ends the run. A cancel committed through another node before this end makes it
 * cancelled, as the 202 that cancel got promised: the end is written only while no cancel
 * is stored, and otherwise the run ends with the cancel's reason.
 */
async function endRun(ctx: EngineContext, run: DrivenRun): Promise<void> {
  // Stored with its last task's end (task-attempt.ts): it only remains to say so.
  if (run.endStored) {
    ctx.publish("run.finished", run.key);
    return;
  }
  const planEnd = (cancelled: string | undefined) =>
    planRun({ tasks: run.spec.tasks, states: run.states, inFlight: new Set(), parallelism: 0, ...(cancelled !== undefined && { cancelled }) }).end ?? {
      state: "failed" as const,
      reason: "its tasks did not all end",
    };
  const ended = run.cancelled === undefined && (await finishUncancelledRun(ctx.db, run.key, planEnd(undefined), ctx.now(), ctx.node.id));
  if (!ended) {
    const cancelled = run.cancelled ?? (await getRunRow(ctx.db, run.key))?.cancelReason ?? "cancelled";
    await finishRun(ctx.db, run.key, planEnd(cancelled), ctx.now(), ctx.node.id);
  }
  ctx.publish("run.finished", run.key);
}

/** After a run ends (or this process lets it go): its tokens die, its objects expire, the next queued run of its key starts. */
async function afterRun(ctx: EngineContext, run: DrivenRun): Promise<void> {
  ctx.active.delete(runKeyString(run.key));
  ctx.executors.run?.releaseWorkspace?.(run.workspace);
  if (ctx.stopped || run.lost) {
    ctx.checkIdle();
    return;
  }
  // The run has ended and said so; its clean-up only holds up idle().
  ctx.finishing++;
  try {
    // Stored before they are revoked, or the revocation would miss them.
    await Promise.all([run.objectsToken?.stored.catch(() => undefined), run.bundleToken?.stored.catch(() => undefined)]);
    if (run.tokenIds.length > 0) await ctx.tokens?.revoke(run.tokenIds).catch(() => undefined);
    // Tokens an earlier process issued to the run are known only by their names.
    if (run.recovered) await ctx.tokens?.revokeRun(run.key).catch(() => undefined);
    await ctx.afterRun?.(run.key, { recovered: run.recovered }).catch((error) => console.error(`after run ${runKeyString(run.key)}:`, error));
    if (run.concurrencyKey !== null) await ctx.admit([run.concurrencyKey]);
  } finally {
    ctx.finishing--;
    ctx.checkIdle();
  }
}
