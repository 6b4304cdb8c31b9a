// A task's attempts: each is claimed in the database with its executor reference before
// any work starts, then started, followed with its timeout and cancel, and recorded with
// how it ended; a failed one is retried, after its stored retry delay, while retries are
// left. After a restart, the attempt in flight is found again by its reference and
// followed to its end, or the retry delay in progress is waited out.
import { insertEvent } from "../../db/repos/events.ts";
import type { AttemptRow } from "../../db/repos/runs.ts";
import { claimAttempt, endAttempt, endExecution, markTimingOut, noteWaiting } from "../../db/repos/task-executions.ts";
import { recordPlacementNode } from "../../db/repos/runs.ts";
import { formatDuration } from "../../domain/duration.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import { retryAt } from "../../domain/retry-delay.ts";
import { runKeyString } from "../../domain/run-key.ts";
import { timedOutReason, timingOutReason } from "../../domain/states.ts";
import { maskingLogWriter, type MaskingLogWriter } from "../../stores/log-masking.ts";
import type { LogKey } from "../../stores/logs.ts";
import type { Executor, ExecutorKind, TaskHandle, TaskLaunch } from "../executors/executor.ts";
import { DEADLINE_ENV, deadlineEnv } from "../task-runner/deadline.ts";
import { BUNDLE_TOKEN_ENV } from "../task-runner/command.ts";
import { OBJECTS_TOKEN_ENV } from "../task-runner/objects-client.ts";
import { runEndWith, stopTasks, workspaceAlone, type DrivenRun } from "./driven-run.ts";
import type { EngineContext } from "./engine-context.ts";
import { taskEnvironment, type TaskEnvironment } from "./task-environment.ts";
import { heldPlacement, recordingPlacement } from "./run-placement.ts";
import { hasTaskFiles, type TaskFilesContext } from "../task-files/index.ts";

/** The run is driven by another node now: this process stops writing for it. */
export class LostRunError extends Error {}

/** The engine stopped while the task ran: nothing more is recorded, the next process takes over. */
export class EngineStoppedError extends Error {}

type AttemptState = "successful" | "failed" | "cancelled";

interface Outcome {
  state: AttemptState;
  exitCode: number | null;
  reason: string | null;
}

/** How often, and how far apart, re-attaching is tried while the executor cannot answer (a Docker engine starting). */
const ATTACH_TRIES = 10;
const ATTACH_RETRY_MS = 3_000;

type MaskingLog = MaskingLogWriter;

/** How an attempt ended, what ran it, and the environment it had (for the steps after it: a cache key's ${VAR}). */
interface AttemptResult {
  outcome: Outcome;
  ref?: string;
  executor?: Executor;
  environment?: Pick<TaskEnvironment, "env" | "secrets">;
}

/** The task's global slot: given up while it waits out a retry delay, taken again before the next attempt. */
interface Slot {
  release: () => void;
}

const logKeyOf = (run: DrivenRun, task: TaskSpec): LogKey => ({ namespace: run.key.namespace, pipeline: run.key.id, run: run.key.run, task: task.id });

/**
 * Runs a task to its final state within a global task slot: from its next attempt, or
 * from the attempt `resume` a restarted server found in flight (or ended, with the next
 * one due at `retryDue`).
 */
export async function executeTask(ctx: EngineContext, run: DrivenRun, task: TaskSpec, resume?: AttemptRow, retryDue?: Date | null): Promise<void> {
  // A swarm attempt in flight of a run with no stored node may be its unplaced first task:
  // it claims the placement now, as the run is taken back and before any new task can
  // (claim's first step is synchronous), and the new ones wait until it is placed.
  const held = resume?.state === "running" && resume.executor === "swarm" && run.placement.node === undefined ? run.placement.claim() : undefined;
  const slot: Slot = { release: await ctx.limiter.acquire() };
  try {
    await runAttempts(ctx, run, task, slot, resume, retryDue ?? null, held);
  } catch (error) {
    if (error instanceof LostRunError) run.lost = true;
    if (error instanceof LostRunError || error instanceof EngineStoppedError || ctx.stopped) return;
    // A throw must still end the task: left running, its run would never end.
    const reason = `internal error: ${(error as Error).message}`;
    console.error(`task ${task.id} of ${runKeyString(run.key)}:`, error);
    await endExecution(ctx.db, run.key, task.id, { state: "failed", reason }, ctx.now(), ctx.event("task.finished", run.key, { state: "failed", reason }, task.id));
    run.states.set(task.id, "failed");
    ctx.publish("task.finished", run.key, task.id);
  } finally {
    slot.release();
    run.inFlight.delete(task.id);
    run.handles.delete(task.id);
  }
}

async function runAttempts(
  ctx: EngineContext,
  run: DrivenRun,
  task: TaskSpec,
  slot: Slot,
  resume: AttemptRow | undefined,
  retryDue: Date | null,
  held: Promise<string | undefined> | undefined,
): Promise<void> {
  // Masked before anything is stored or streamed: secrets never reach a log.
  const log = maskingLogWriter(ctx.logs.open(logKeyOf(run, task)));
  try {
    const total = task.retries + 1;
    // After a restart: the attempt found in flight goes on (or, never started, starts
    // again under its number); after one that had ended, the next one starts when due.
    let attempt = resume ? (resume.state === "running" ? resume.attempt : resume.attempt + 1) : (run.attempts.get(task.id) ?? 0) + 1;
    let found = resume?.state === "running" ? await resumeAttempt(ctx, run, task, resume, log, held) : undefined;
    let due = resume && resume.state !== "running" ? retryDue : null;
    if (due && due > ctx.now()) log.line("gantry", `the server restarted while this task waited to retry; attempt ${attempt} starts in ${formatDuration(due.getTime() - ctx.now().getTime())}`);
    for (;;) {
      if (due) await waitForRetry(ctx, run, slot, due);
      due = null;
      const result =
        found !== undefined && found !== "never-started"
          ? found
          : run.cancelled !== undefined
            ? "cancelled"
            : await freshAttempt(ctx, run, task, attempt, total, log, found === "never-started");
      found = undefined;
      if (result === "cancelled") {
        // Cancelled before this attempt could start (or start again after a restart).
        await endWithoutAttempt(ctx, run, task, "run cancelled");
        return;
      }
      const { ref, executor } = result;
      let { outcome } = result;
      // After a success: artifacts out, the cache saved, a scan's findings read (they may fail it).
      if (outcome.state === "successful" && ctx.taskFiles && hasTaskFiles(task)) {
        const after = await ctx.taskFiles.after(taskFilesContext(run, task, result.environment ?? { env: {}, secrets: [] }, log));
        if (!after.ok) {
          log.line("gantry", after.reason);
          outcome = { state: "failed", exitCode: outcome.exitCode, reason: after.reason };
        }
      }
      const retry = outcome.state === "failed" && attempt < total && run.cancelled === undefined;
      const now = ctx.now();
      const next = retry ? retryAt(task.retryDelay, attempt, now) : null;
      if (outcome.state === "failed") {
        const wait = next ? ` in ${formatDuration(next.getTime() - now.getTime())}` : "";
        log.line("gantry", retry ? `attempt ${attempt} failed: ${outcome.reason}; retrying${wait}` : `failed: ${outcome.reason}`);
      }
      // The attempt's part of the log ends after what was held back past the cap (its last lines).
      log.flush();
      // The run's last task: the run's end goes in the same commit.
      const runEnd = retry ? undefined : runEndWith(run, task, outcome.state);
      const runEnded = await endAttempt(
        ctx.db,
        run.key,
        task.id,
        attempt,
        { ...outcome, logTo: log.size, now },
        retry
          ? {
              retryAt: next,
              event: ctx.event("task.attempt_failed", run.key, { attempt, reason: outcome.reason, ...(next && { retryAt: next.toISOString() }) }, task.id),
            }
          : {
              change: { state: outcome.state, exitCode: outcome.exitCode, reason: outcome.reason, endedAt: now },
              event: ctx.event("task.finished", run.key, { state: outcome.state, exitCode: outcome.exitCode, ...(outcome.reason && { reason: outcome.reason }) }, task.id),
            },
        runEnd,
      );
      if (runEnded) run.endStored = true;
      if (!retry) {
        run.states.set(task.id, outcome.state);
        run.exitCodes.set(task.id, outcome.exitCode);
        ctx.publish("task.finished", run.key, task.id);
      } else {
        // Pages and the CLI show when the next attempt starts.
        ctx.publish("task.attempt_failed", run.key, task.id);
      }
      // Removed only now: had the server died before the end was recorded, the next one finds
      // the container and its exit code. Not waited for when its end was seen (an exit code):
      // the next task and the run's end do not need it (a container's removal took ~20 ms, a
      // swarm service's seconds), and what a server stopped meanwhile leaves, the janitor
      // removes. An end not seen (a lost engine, a cancel) may leave the work running: its
      // removal stops it before anything else of the run goes on.
      if (ref && executor && !task.container?.keepContainer) {
        const removing = executor.cleanup(ref).catch((error: unknown) => console.error(`task ${task.id} of ${runKeyString(run.key)}: removing what attempt ${attempt} left failed:`, error));
        if (outcome.exitCode === null) await removing;
        else {
          ctx.cleanups.add(removing);
          void removing.finally(() => ctx.cleanups.delete(removing));
        }
      }
      if (!retry) return;
      attempt++;
      due = next;
    }
  } finally {
    log.close();
  }
}

/**
 * Waits until a retry is due, holding no task slot. A cancel ends the wait at once (the
 * task then ends cancelled); so does the engine stopping, and the next process waits out
 * what is left of the stored retry time.
 */
async function waitForRetry(ctx: EngineContext, run: DrivenRun, slot: Slot, due: Date): Promise<void> {
  const ms = due.getTime() - ctx.now().getTime();
  if (ms <= 0 || run.cancelled !== undefined || ctx.stopped) return;
  slot.release();
  let wake!: () => void;
  const woken = new Promise<void>((resolve) => (wake = resolve));
  run.retryWaits.add(wake);
  const timer = setTimeout(wake, ms);
  try {
    await woken;
  } finally {
    clearTimeout(timer);
    run.retryWaits.delete(wake);
  }
  if (ctx.stopped) throw new EngineStoppedError();
  // Cancelled: the task ends without taking a slot again.
  if (run.cancelled !== undefined) return;
  slot.release = await ctx.limiter.acquire();
  if (ctx.stopped) throw new EngineStoppedError();
}

/** The task as its files' steps see it; their lines go to its log (masked). */
function taskFilesContext(run: DrivenRun, task: TaskSpec, environment: Pick<TaskEnvironment, "env" | "secrets">, log: MaskingLog): TaskFilesContext {
  return { key: run.key, task, workspace: run.workspace, env: environment.env, secrets: environment.secrets, log: (line) => log.line("gantry", line) };
}

/** Claims attempt `attempt` (stored with its reference before its work begins), starts it and follows it to its end. */
async function freshAttempt(
  ctx: EngineContext,
  run: DrivenRun,
  task: TaskSpec,
  attempt: number,
  total: number,
  log: MaskingLog,
  again: boolean,
): Promise<AttemptResult | "cancelled"> {
  const logFrom = log.size;
  if (again) log.line("gantry", `attempt ${attempt} had not started when the server stopped; starting it now`);
  else if (attempt > 1) log.line("gantry", `attempt ${attempt} of ${total}`);
  const executorKind = executorKindOf(ctx, task);
  const executor = ctx.executors[executorKind];
  // A run() task's runner in a service fetches the run's bundle over the API with the run's bundle token.
  const environment = executor ? await taskEnvironment(ctx, run, task, true, { bundleToken: task.kind === "run" && executorKind === "swarm" }) : undefined;
  let prepared = environment;
  if (environment !== undefined && typeof environment !== "string") {
    log.addSecrets(environment.secrets);
    // Artifacts in and the cache, before the work starts; a missing artifact is the attempt's failure.
    // (What they extract is given the workspace's owner as it is written, so no walk is needed.)
    if (ctx.taskFiles && hasTaskFiles(task)) {
      const before = await ctx.taskFiles.before(taskFilesContext(run, task, environment, log));
      if (!before.ok) prepared = before.reason;
    }
  }
  const base = { namespace: run.key.namespace, pipeline: run.key.id, run: run.key.run, task, attempt, bundlePath: run.bundlePath, workspace: run.workspace };
  const ref = executor ? executor.reference({ ...base, workspaceAlone: workspaceAlone(run, task) }) : `none-${crypto.randomUUID()}`;
  const startedAt = ctx.now();
  // A run() task's SIGTERM at this moment or later is its timeout's: its ctx.signal says so.
  const deadline: Record<string, string> =
    task.kind === "run" && task.timeoutMs !== undefined ? { [DEADLINE_ENV]: deadlineEnv(Date.now() + task.timeoutMs, task.timeoutMs) } : {};
  const claiming = claimAttempt(ctx.db, run.key, {
    taskId: task.id,
    attempt,
    executor: executorKind,
    ref,
    nodeId: ctx.node.id,
    leaseExpiresAt: ctx.leaseUntil(),
    logFrom,
    now: startedAt,
    event: ctx.event(attempt === 1 ? "task.started" : "task.retried", run.key, { state: "running", attempt }, task.id),
  });
  // The work is prepared while the claim commits (a runner boots, a container is created)
  // and begins only once the claim is stored: its start does not wait for the commit, and
  // nothing runs for an attempt the database does not hold.
  const runnable = executor !== undefined && typeof prepared !== "string";
  let handle: TaskHandle | undefined;
  if (runnable) {
    const ready = prepared as TaskEnvironment;
    // Work on the server itself that uses the workspace there (run() tasks, image builds): the run's cluster tasks follow it to this node.
    const usesServerWorkspace = executorKind === "run" || (executorKind === "container" && task.container?.build !== undefined);
    if (usesServerWorkspace && ctx.serverNode && run.placement.node === undefined) await placeOnServer(ctx, run, log);
    handle = executor.start({
      ...base,
      ref,
      env: { ...ready.env, ...deadline },
      ...(ready.registryAuth !== undefined && { registryAuth: ready.registryAuth }),
      log,
      gate: claiming.then((claim) => claim.status === "claimed"),
      ...placementHooks(ctx, run, task, attempt),
    });
  }
  const claimed = await claiming.catch(async (error: unknown) => {
    // Unknown whether it committed: the work must not begin either way.
    await handle?.exited;
    throw error;
  });
  if (claimed.status !== "claimed") {
    // Told not to begin: it ends without having run (and removes what it prepared).
    await handle?.exited;
    if (claimed.status === "lost") throw new LostRunError(`run ${runKeyString(run.key)} is driven by another node now`);
    // Asked through another node: acted on here at once, as if asked here.
    if (run.cancelled === undefined) {
      run.cancelled = claimed.reason;
      stopTasks(run, ctx.killGraceMs);
    }
    return "cancelled";
  }
  run.states.set(task.id, "running");
  run.attempts.set(task.id, attempt);
  ctx.publish(attempt === 1 ? "task.started" : "task.retried", run.key, task.id);
  if (!runnable) {
    const reason = !executor
      ? task.kind === "container"
        ? "container tasks need a Docker engine, and none is configured"
        : "no executor for run() tasks"
      : (prepared as string);
    log.line("gantry", reason);
    return { outcome: { state: "failed", exitCode: null, reason } };
  }
  return { outcome: await follow(ctx, run, task, handle!, log, startedAt, attempt, executorKind), ref, executor, environment: prepared as TaskEnvironment };
}

/** Finds an attempt in flight again after a restart, by its stored reference, and follows it to its end. */
async function resumeAttempt(
  ctx: EngineContext,
  run: DrivenRun,
  task: TaskSpec,
  row: AttemptRow,
  log: MaskingLog,
  held: Promise<string | undefined> | undefined,
): Promise<AttemptResult | "never-started"> {
  const hooks = placementHooks(ctx, run, task, row.attempt);
  const placement = held && hooks.placement ? heldPlacement(hooks.placement, held) : undefined;
  try {
    return await attachAttempt(ctx, run, task, row, log, { ...hooks, ...(placement && { placement }) }, () => placement?.release());
  } finally {
    await placement?.release();
  }
}

/** resumeAttempt's work; `attached` is called once the executor has answered (its claim on the run's placement made, or never). */
async function attachAttempt(
  ctx: EngineContext,
  run: DrivenRun,
  task: TaskSpec,
  row: AttemptRow,
  log: MaskingLog,
  hooks: Pick<TaskLaunch, "placement" | "waiting">,
  attached: () => Promise<void> | undefined,
): Promise<AttemptResult | "never-started"> {
  const executor = ctx.executors[row.executor];
  const failed = (reason: string): { outcome: Outcome; ref?: string; executor?: Executor } => {
    log.line("gantry", reason);
    return { outcome: { state: "failed", exitCode: null, reason }, ...(row.ref && executor && { ref: row.ref, executor }) };
  };
  if (!executor) return failed(`the server restarted during this attempt and has no ${row.executor === "run" ? "run() executor" : "Docker engine"} to find it again`);
  if (!row.ref) return failed("the server restarted during this attempt");
  const prepared = await taskEnvironment(ctx, run, task, false);
  if (typeof prepared !== "string") log.addSecrets(prepared.secrets);
  const launch: TaskLaunch = {
    namespace: run.key.namespace,
    pipeline: run.key.id,
    run: run.key.run,
    task,
    attempt: row.attempt,
    ref: row.ref,
    bundlePath: run.bundlePath,
    env: typeof prepared === "string" ? {} : prepared.env,
    workspace: run.workspace,
    log,
    ...hooks,
  };
  const stored = await ctx.logs.lineCounts(logKeyOf(run, task), row.logFrom);
  for (let tries = 1; ; tries++) {
    let result;
    try {
      result = await executor.attach({ launch, stored });
    } catch (error) {
      if (tries >= ATTACH_TRIES) return failed(`could not find this attempt again after the server restarted: ${(error as Error).message}`);
      if (tries === 1) log.line("gantry", `cannot reach this attempt's work yet (${(error as Error).message}); trying again`);
      await Bun.sleep(ATTACH_RETRY_MS);
      if (ctx.stopped) throw new EngineStoppedError();
      continue;
    }
    // A claim on the run's placement the executor did not use is given up before the task is followed.
    await attached();
    if (result.status === "never-started") return "never-started";
    if (result.status === "lost") return failed(result.reason);
    // The container's own environment holds the tokens the old server gave it: masked too.
    if (result.env) log.addSecrets([result.env.GANTRY_API_TOKEN, result.env[OBJECTS_TOKEN_ENV], result.env[BUNDLE_TOKEN_ENV]].filter((value): value is string => !!value));
    log.line("gantry", "re-attached after a server restart");
    await insertEvent(ctx.db, ctx.event("task.reattached", run.key, { attempt: row.attempt, node: ctx.node.id }, task.id));
    ctx.publish("task.reattached", run.key, task.id);
    return {
      outcome: await follow(ctx, run, task, result.handle, log, row.startedAt, row.attempt, row.executor),
      ref: row.ref,
      executor,
      ...(typeof prepared !== "string" && { environment: prepared }),
    };
  }
}

/**
 * Waits for an attempt's end, stopping it on cancel and at its timeout (counted from the
 * attempt's start). Past its timeout it shows as timing out at once, and gets the shorter
 * timeout grace: nobody waits on it, and a task that ran out of time rarely needs long to
 * clean up.
 */
async function follow(
  ctx: EngineContext,
  run: DrivenRun,
  task: TaskSpec,
  handle: TaskHandle,
  log: MaskingLog,
  startedAt: Date,
  attempt: number,
  executorKind: ExecutorKind,
): Promise<Outcome> {
  run.handles.set(task.id, handle);
  // A cancel that came while the task was starting must still reach it.
  if (run.cancelled !== undefined) handle.stop(ctx.killGraceMs);
  let timingOut: Promise<void> | undefined;
  const timeoutMs = task.timeoutMs;
  const onTimeout = (timeoutMs: number) => {
    // Being stopped for a cancel already: it ends cancelled, on the cancel's grace.
    if (run.cancelled !== undefined) return;
    const graceMs = ctx.timeoutGraceMs ?? ctx.killGraceMs;
    log.line("gantry", `timed out after ${formatDuration(timeoutMs)}; stopping (killed if still running in ${formatDuration(graceMs)})`);
    handle.stop(graceMs);
    // A cancel now must not restart its grace at the longer cancel grace.
    run.handles.set(task.id, { exited: handle.exited, stop: () => {}, detach: (ms) => handle.detach(ms) });
    const reason = timingOutReason(timeoutMs);
    timingOut = markTimingOut(ctx.db, run.key, task.id, attempt, reason, ctx.event("task.timing_out", run.key, { attempt, reason }, task.id))
      .then((marked) => {
        if (marked) ctx.publish("task.timing_out", run.key, task.id);
      })
      .catch((error: unknown) => {
        if (!ctx.stopped) console.error(`task ${task.id} of ${runKeyString(run.key)}: marking it timing out failed:`, error);
      });
  };
  const timer =
    timeoutMs !== undefined ? setTimeout(() => onTimeout(timeoutMs), Math.max(0, timeoutMs - (ctx.now().getTime() - startedAt.getTime()))) : undefined;
  const exit = await handle.exited;
  clearTimeout(timer);
  // What a container (a container task's, or a run() task's runner service) wrote as root is
  // handed back before any later task runs, so run() tasks in the sandbox may change it too.
  if (executorKind !== "run" && ctx.reclaimWorkspace) {
    await ctx.reclaimWorkspace(run.workspace).catch((error: unknown) => console.error(`task ${task.id} of ${runKeyString(run.key)}: reclaiming its workspace failed:`, error));
  }
  // The end replaces the timing-out mark, so it is written after it.
  await timingOut;
  run.handles.delete(task.id);
  if (ctx.stopped) throw new EngineStoppedError();
  // Another node took the run while this attempt ran here (a stalled lease): its end is not ours to tell.
  if (run.lost) throw new LostRunError(`run ${runKeyString(run.key)} is driven by another node now`);
  if (run.cancelled !== undefined) return { state: "cancelled", exitCode: exit.exitCode, reason: "run cancelled" };
  // Work that never began says what it waited for ("timed out after 5m, still waiting for a node: ...").
  if (timingOut) return { state: "failed", exitCode: exit.exitCode, reason: `${timedOutReason(timeoutMs!)}${exit.waitingFor ? `, still ${log.mask(exit.waitingFor)}` : ""}` };
  if (exit.exitCode === 0) return { state: "successful", exitCode: 0, reason: null };
  // A thrown error's message may quote a secret too.
  return { state: "failed", exitCode: exit.exitCode, reason: log.mask(exit.reason ?? `exited with code ${exit.exitCode}`) };
}

/** A task that never got (another) attempt ends cancelled: a cancel came before it could start. */
async function endWithoutAttempt(ctx: EngineContext, run: DrivenRun, task: TaskSpec, reason: string): Promise<void> {
  await endExecution(ctx.db, run.key, task.id, { state: "cancelled", reason }, ctx.now(), ctx.event("task.finished", run.key, { state: "cancelled", reason }, task.id));
  run.states.set(task.id, "cancelled");
  ctx.publish("task.finished", run.key, task.id);
}

/**
 * Plain container() tasks go to the configured container executor; image builds, pushes and
 * deploys stay on the server's Docker engine. run() tasks run in the server's sandbox, or with
 * the swarm executor as services of the runner image, but for those with `network: "none"`:
 * a runner fetches its bundle over the network, and a service cannot be given none.
 */
export function executorKindOf(ctx: EngineContext, task: TaskSpec): ExecutorKind {
  if (task.kind === "run") return ctx.runExecutor === "swarm" && ctx.executors.swarm && task.runNetwork === undefined ? "swarm" : "run";
  if (task.kind !== "container") return "run";
  const plain = !task.container?.build && !task.container?.push && !task.container?.deploy;
  return plain && ctx.containerExecutor === "swarm" && ctx.executors.swarm ? "swarm" : "container";
}

/** What an executor that places work on nodes needs: the run's node, and where to say why the work waits. */
function placementHooks(ctx: EngineContext, run: DrivenRun, task: TaskSpec, attempt: number): Pick<TaskLaunch, "placement" | "waiting"> {
  // One note at a time, in order: a note that work began must not be overtaken by the wait before it.
  let notes = Promise.resolve();
  return {
    placement: recordingPlacement(run.placement, (node) => recordPlacementNode(ctx.db, run.key, node)),
    waiting(reason) {
      notes = notes
        .then(() => noteWaiting(ctx.db, run.key, task.id, attempt, reason ?? null))
        .then((noted) => {
          if (noted) ctx.publish("task.waiting_for_node", run.key, task.id);
        })
        .catch((error: unknown) => {
          if (!ctx.stopped) console.error(`task ${task.id} of ${runKeyString(run.key)}: noting why it waits failed:`, error);
        });
    },
  };
}

/**
 * Places the run on the server's own cluster node (when the server's engine is one), as its
 * first task: a swarm task of the run being placed right now is waited for, as tasks of the
 * run wait for each other, so the run is not moved from under it.
 */
async function placeOnServer(ctx: EngineContext, run: DrivenRun, log: MaskingLog): Promise<void> {
  const node = await ctx.serverNode!().catch(() => undefined);
  if (node === undefined) return;
  const placement = recordingPlacement(run.placement, (at) => recordPlacementNode(ctx.db, run.key, at));
  const claim = placement.claim();
  if (await Promise.race([claim.then(() => false), Bun.sleep(500).then(() => true)])) {
    log.line("gantry", "waiting for the run's first task to get a node: the run's tasks share one workspace");
  }
  if ((await claim) !== undefined) return;
  await placement.placed(node);
}
