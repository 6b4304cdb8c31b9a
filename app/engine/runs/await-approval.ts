// An approval gate of a run this node drives: asks autoApprove first (a sandboxed run()
// function), then waits, holding no task slot, until a decision is stored (by anyone, on
// any node), its timeout decides, or the run is cancelled; then ends approved (successful)
// or rejected (failed). The wait is stored, so a restarted server waits out what is left.
import { applyDecision, enterWaiting, readGate, recordAutoDecision, recordDecision, startAutoApprove } from "../../db/repos/approvals.ts";
import { endExecution } from "../../db/repos/task-executions.ts";
import type { ExecutionRow } from "../../db/repos/runs.ts";
import { decisionEnd, timeoutDecision, waitingGate, type GateDecision, type WaitingGate } from "../../domain/approvals.ts";
import { formatDuration } from "../../domain/duration.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import { inputsEnv } from "../../domain/run-inputs.ts";
import { runKeyString } from "../../domain/run-key.ts";
import { maskingLogWriter } from "../../stores/log-masking.ts";
import { AUTO_APPROVE_DECLINED } from "../task-runner/run-data.ts";
import { stopTasks, workspaceAlone, type DrivenRun } from "./driven-run.ts";
import type { EngineContext } from "./engine-context.ts";
import { EngineStoppedError, LostRunError } from "./task-attempt.ts";
import { taskEnvironment } from "./task-environment.ts";
import { ORIGIN_RUN_VARIABLE } from "../../domain/ids.ts";

/** autoApprove decides quickly or not at all: past this it is stopped and a person decides. */
const AUTO_APPROVE_LIMIT_MS = 2 * 60_000;
/** A long wait is slept in pieces (timers hold at most ~24 days); each piece re-reads the gate. */
const LONGEST_SLEEP_MS = 60 * 60_000;

type Log = ReturnType<typeof maskingLogWriter>;

/** Drives a gate to its end: from the start, or as a restart found it (`resume`: running = autoApprove was under way, waiting). */
export function awaitApproval(ctx: EngineContext, run: DrivenRun, task: TaskSpec, resume?: ExecutionRow): Promise<void> {
  const ended = gateFlow(ctx, run, task, resume)
    .catch(async (error: unknown) => {
      if (error instanceof LostRunError) run.lost = true;
      if (error instanceof LostRunError || error instanceof EngineStoppedError || ctx.stopped) return;
      const reason = `internal error: ${(error as Error).message}`;
      console.error(`approval ${task.id} of ${runKeyString(run.key)}:`, error);
      await endExecution(ctx.db, run.key, task.id, { state: "failed", reason }, ctx.now(), ctx.event("task.finished", run.key, { state: "failed", reason }, task.id));
      run.states.set(task.id, "failed");
      ctx.publish("task.finished", run.key, task.id);
    })
    .finally(() => {
      run.inFlight.delete(task.id);
      run.gateWaits.delete(task.id);
      run.gateEnds.delete(task.id);
    });
  run.gateEnds.set(task.id, ended);
  return ended;
}

async function gateFlow(ctx: EngineContext, run: DrivenRun, task: TaskSpec, resume: ExecutionRow | undefined): Promise<void> {
  const log = maskingLogWriter(ctx.logs.open({ namespace: run.key.namespace, pipeline: run.key.id, run: run.key.run, task: task.id }));
  try {
    // A decision stored before the server stopped (autoApprove's, or one made while it was down) is applied as it is.
    if (resume?.decision) return await finish(ctx, run, task, resume.decision, resume.gate ?? undefined, log);
    let gate = resume?.state === "waiting" ? resume.gate : null;
    if (gate) log.line("gantry", "the server restarted; still waiting for approval");
    else {
      if (run.cancelled !== undefined) return await endCancelled(ctx, run, task);
      const spec = task.approval!;
      let note: string | undefined;
      if (spec.autoApprove) {
        const auto = await askAutoApprove(ctx, run, task, log);
        if (auto === "cancelled") return await endCancelled(ctx, run, task);
        if (auto === "approved") {
          const decision: GateDecision = { outcome: "approved", by: "autoApprove", at: ctx.now().toISOString(), auto: "autoApprove", comment: "autoApprove returned true" };
          if (!(await recordAutoDecision(ctx.db, run.key, task.id, decision, decisionEvent(ctx, run, task, decision)))) {
            throw new LostRunError(`run ${runKeyString(run.key)} is driven by another node now`);
          }
          ctx.publish("approval.approved", run.key, task.id);
          return await finish(ctx, run, task, decision, undefined, log);
        }
        note = auto.note;
      }
      const now = ctx.now();
      gate = waitingGate(spec, now, templateValues(run, task), note);
      const entered = await enterWaiting(
        ctx.db,
        run.key,
        task.id,
        gate,
        ctx.node.id,
        now,
        ctx.event("task.waiting", run.key, { ...(gate.message !== undefined && { message: gate.message }), approvers: gate.approvers, decideBy: gate.decideBy }, task.id),
      );
      if (!entered) throw new LostRunError(`run ${runKeyString(run.key)} is driven by another node now`);
      run.states.set(task.id, "waiting");
      ctx.publish("task.waiting", run.key, task.id);
      const who = gate.approvers.length > 0 ? `a holder of ${gate.approvers.join(" or ")}` : "anyone with runs:approve";
      log.line("gantry", `waiting for approval${gate.message ? `: ${gate.message}` : ""} (${who} decides; ${gate.onTimeout === "approve" ? "approved" : "rejected"} if nobody has in ${formatDuration(spec.timeoutMs)})`);
    }
    await waitForDecision(ctx, run, task, gate, log);
  } finally {
    log.close();
  }
}

/** Waits until the gate is decided (stored), times out, or the run is cancelled; then ends it. */
async function waitForDecision(ctx: EngineContext, run: DrivenRun, task: TaskSpec, gate: WaitingGate, log: Log): Promise<void> {
  const decideBy = new Date(gate.decideBy).getTime();
  for (;;) {
    if (ctx.stopped) throw new EngineStoppedError();
    const row = await readGate(ctx.db, run.key, task.id);
    // Ended by someone else (its work lost, taken over): this process lets it go.
    if (!row || row.runState !== "running") throw new LostRunError(`run ${runKeyString(run.key)} is no longer running here`);
    if (row.state !== "waiting") {
      run.states.set(task.id, row.state);
      return;
    }
    if (row.decision) return finish(ctx, run, task, row.decision, gate, log);
    if (run.cancelled !== undefined) return endCancelled(ctx, run, task);
    const left = decideBy - ctx.now().getTime();
    if (left <= 0) {
      const decision = timeoutDecision(gate);
      // A person may have decided a moment before: then theirs counts, read on the next pass.
      const recorded = await ctx.db.transaction((tx) => recordDecision(tx, run.key, task.id, decision, decisionEvent(ctx, run, task, decision)));
      if (recorded) {
        ctx.publish(`approval.${decision.outcome}`, run.key, task.id);
        return finish(ctx, run, task, decision, gate, log);
      }
      continue;
    }
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    run.gateWaits.set(task.id, wake);
    const timer = setTimeout(wake, Math.min(left, LONGEST_SLEEP_MS));
    try {
      await woken;
    } finally {
      clearTimeout(timer);
      run.gateWaits.delete(task.id);
    }
  }
}

/** The event of a decision: who, when, the comment, and whether autoApprove or the timeout made it. */
export function decisionEvent(ctx: EngineContext, run: DrivenRun | { key: DrivenRun["key"] }, task: { id: string }, decision: GateDecision) {
  return ctx.event(
    decision.outcome === "approved" ? "approval.approved" : "approval.rejected",
    run.key,
    { by: decision.by, ...(decision.comment !== undefined && { comment: decision.comment }), ...(decision.auto && { auto: decision.auto }), at: decision.at },
    task.id,
  );
}

/** Ends the gate with its decision: successful when approved, failed "rejected by X: comment" when not. */
async function finish(ctx: EngineContext, run: DrivenRun, task: TaskSpec, decision: GateDecision, gate: WaitingGate | undefined, log: Log): Promise<void> {
  const end = decisionEnd(decision, gate);
  log.line("gantry", end.reason);
  const applied = await applyDecision(ctx.db, run.key, task.id, decision, end, ctx.now(), ctx.event("task.finished", run.key, { state: end.state, reason: end.reason }, task.id));
  if (!applied) throw new LostRunError(`run ${runKeyString(run.key)} is driven by another node now`);
  run.states.set(task.id, end.state);
  run.exitCodes.set(task.id, null);
  ctx.publish("task.finished", run.key, task.id);
}

async function endCancelled(ctx: EngineContext, run: DrivenRun, task: TaskSpec): Promise<void> {
  const reason = "run cancelled";
  await endExecution(ctx.db, run.key, task.id, { state: "cancelled", reason }, ctx.now(), ctx.event("task.finished", run.key, { state: "cancelled", reason }, task.id));
  run.states.set(task.id, "cancelled");
  ctx.publish("task.finished", run.key, task.id);
}

/** `${NAME}` of a gate's message: the run's variables, its inputs as INPUT_<NAME>, and the GANTRY_* ones. */
function templateValues(run: DrivenRun, task: TaskSpec): Record<string, string> {
  return {
    ...run.spec.variables,
    ...run.variables,
    ...inputsEnv(run.inputs),
    GANTRY_NAMESPACE: run.key.namespace,
    GANTRY_PIPELINE_ID: run.key.id,
    GANTRY_RUN_ID: String(run.key.run),
    [ORIGIN_RUN_VARIABLE]: run.variables[ORIGIN_RUN_VARIABLE] ?? String(run.key.run),
    GANTRY_TASK_ID: task.id,
  };
}

/**
 * Runs autoApprove in a run() sandbox within a task slot: "approved" when it returned true,
 * otherwise why a person decides (it returned false, threw, ran too long, or cannot run).
 */
async function askAutoApprove(ctx: EngineContext, run: DrivenRun, task: TaskSpec, log: Log): Promise<"approved" | "cancelled" | { note: string }> {
  const executor = ctx.executors.run;
  if (!executor) return { note: "autoApprove could not run: this server has no run() executor" };
  const claimed = await startAutoApprove(ctx.db, run.key, task.id, ctx.node.id, ctx.now(), ctx.event("task.started", run.key, { state: "running", attempt: 1, autoApprove: true }, task.id));
  if (claimed.status === "lost") throw new LostRunError(`run ${runKeyString(run.key)} is driven by another node now`);
  if (claimed.status === "cancelled") {
    // Asked through another node: acted on here at once, as if asked here.
    if (run.cancelled === undefined) {
      run.cancelled = claimed.reason;
      stopTasks(run, ctx.killGraceMs);
    }
    return "cancelled";
  }
  run.states.set(task.id, "running");
  ctx.publish("task.started", run.key, task.id);
  const release = await ctx.limiter.acquire();
  try {
    if (ctx.stopped) throw new EngineStoppedError();
    if (run.cancelled !== undefined) return "cancelled";
    const prepared = await taskEnvironment(ctx, run, task);
    if (typeof prepared === "string") {
      log.line("gantry", `autoApprove could not run: ${prepared}`);
      return { note: `autoApprove could not run: ${prepared}` };
    }
    log.addSecrets(prepared.secrets);
    log.line("gantry", "asking autoApprove");
    const launch = { namespace: run.key.namespace, pipeline: run.key.id, run: run.key.run, task, attempt: 1, bundlePath: run.bundlePath, workspace: run.workspace };
    const ref = executor.reference({ ...launch, workspaceAlone: workspaceAlone(run, task) });
    const handle = executor.start({ ...launch, ref, env: prepared.env, log });
    run.handles.set(task.id, handle);
    let tooLong = false;
    const timer = setTimeout(() => {
      tooLong = true;
      handle.stop(ctx.killGraceMs);
    }, AUTO_APPROVE_LIMIT_MS);
    const exit = await handle.exited.finally(() => {
      clearTimeout(timer);
      run.handles.delete(task.id);
    });
    await executor.cleanup(ref).catch(() => undefined);
    if (ctx.stopped) throw new EngineStoppedError();
    if (run.cancelled !== undefined) return "cancelled";
    if (exit.exitCode === 0) return "approved";
    const note = tooLong
      ? `autoApprove ran longer than ${formatDuration(AUTO_APPROVE_LIMIT_MS)} and was stopped`
      : exit.exitCode === AUTO_APPROVE_DECLINED
        ? "autoApprove returned false"
        : `autoApprove failed (${log.mask(exit.reason ?? `exited with code ${exit.exitCode}`)})`;
    log.line("gantry", `${note}; a person decides`);
    return { note };
  } finally {
    release();
  }
}
