// The run lifecycle: creates runs, walks their DAG with the pure decisions of domain/dag,
// starts tasks on executors within the run's and the server's limits, handles retries,
// timeouts and cancel, and persists every transition with its event.
import { readFileSync } from "node:fs";
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Db } from "../db/client.ts";
import { getVersion, requirePipeline, type PipelineKey, type VersionRow } from "../db/repos/pipelines.ts";
import {
  createRun,
  finishOrphanedRun,
  getRun,
  listUnfinishedRuns,
  updateExecutions,
  updateRun,
  type ExecutionChange,
  type RunKey,
  type RunWithTasks,
} from "../db/repos/runs.ts";
import type { RunTrigger } from "../db/schema/runs.ts";
import { nextStep, runOutcome } from "../domain/dag.ts";
import { formatDuration } from "../domain/duration.ts";
import { ConflictError, NotFoundError, ValidationError } from "../domain/errors.ts";
import type { EventKind } from "../domain/event-kinds.ts";
import { ENV_NAME_PATTERN, RESERVED_ENV_PREFIX } from "../domain/ids.ts";
import type { PipelineSpec, TaskSpec } from "../domain/pipeline-spec.ts";
import type { Resource } from "../domain/permissions.ts";
import { isFinalTaskState, type TaskState } from "../domain/states.ts";
import type { LogStore } from "../stores/logs.ts";
import { maskingLogWriter } from "../stores/log-masking.ts";
import type { EventBus } from "./event-bus.ts";
import type { Executor, TaskHandle } from "./executors/executor.ts";
import { createLimiter } from "./limiter.ts";
import { TASK_RUNNER_COMMAND } from "./task-runner/command.ts";
import { OBJECTS_TOKEN_ENV } from "./task-runner/objects-client.ts";

export interface IssuedToken {
  id: string;
  secret: string;
  /** Settles once the token is stored; the secret is known (and usable by a task about to start) before. */
  stored: Promise<void>;
}

export interface RunTokenIssuer {
  /**
   * A token for one task of one run (or, with `resource`, for that resource of the run's
   * pipeline alone); revoked by `revoke` when the run ends.
   */
  issue(run: RunKey, task: string, resource?: Resource | "*"): IssuedToken;
  revoke(ids: string[]): Promise<void>;
}

export interface OrchestratorOptions {
  db: Db;
  bus: EventBus;
  logs: LogStore;
  executors: Partial<Record<"run" | "container", Executor>>;
  workspacesDir: string;
  maxParallelTasks: number;
  killGraceMs: number;
  apiUrl: () => string;
  /** Resolves `secret("name")` for a pipeline; undefined when it does not exist. */
  resolveSecret?: (pipeline: PipelineKey, name: string) => Promise<string | undefined>;
  tokens?: RunTokenIssuer;
  /** Called once a run has ended and its end is published (expires old run objects). */
  afterRun?: (key: RunKey) => Promise<unknown>;
  now?: () => Date;
}

export interface StartRunOptions {
  variables?: Record<string, string>;
  trigger: RunTrigger;
  /** A hook delivery: recorded with the run; a repeat throws DuplicateDeliveryError and starts nothing. */
  delivery?: { extension: string; deliveryId: string };
  /**
   * Variables the system sets (an extension's GANTRY_<EXTENSION>_* event fields; the host
   * checks the prefix). Stored with the run's variables; never taken from a user.
   */
  systemVariables?: Record<string, string>;
  /** The run may not read secrets (a pull request from a fork): tasks that reference one fail. */
  noSecrets?: boolean;
}

/** Why a task of a `noSecrets` run that references a secret fails. */
export const SECRETS_WITHHELD_REASON = "secrets are withheld from runs triggered by pull requests from forks";

export interface Orchestrator {
  startRun(key: PipelineKey, options: StartRunOptions): Promise<RunWithTasks>;
  cancelRun(key: RunKey, by?: string): Promise<void>;
  /** Finishes runs left in flight by a previous server process as failed ("orphaned"). */
  recoverOrphans(): Promise<number>;
  /** Whether a run is being executed by this process. */
  isActive(key: RunKey): boolean;
  /** Resolves when no run is executing (tests, shutdown). */
  idle(): Promise<void>;
  /** Cancels everything running and waits for it. */
  shutdown(): Promise<void>;
}

interface ActiveRun {
  key: RunKey;
  spec: PipelineSpec;
  bundlePath: string;
  variables: Record<string, string>;
  noSecrets: boolean;
  workspace: string;
  states: Map<string, TaskState>;
  /** Tasks waiting for a global slot or running. */
  inFlight: Set<string>;
  handles: Map<string, TaskHandle>;
  cancelled: boolean;
  cancelledBy?: string;
  tokenIds: string[];
  /** The run's token for ctx.objects, issued for its first run() task. */
  objectsToken?: IssuedToken;
  /** Scheduling passes of a run happen one at a time. */
  scheduling: Promise<void>;
  finished: Promise<void>;
  finish: () => void;
}

const VERSION_CACHE_SIZE = 256;

const runKeyString = (key: RunKey) => `${key.namespace}/${key.id}#${key.run}`;

export function createOrchestrator(options: OrchestratorOptions): Orchestrator {
  const { db, bus, logs } = options;
  const now = options.now ?? (() => new Date());
  const limiter = createLimiter(options.maxParallelTasks);
  const active = new Map<string, ActiveRun>();
  let idleWaiters: (() => void)[] = [];
  /** Runs that have ended but are still revoking their tokens and the like. */
  let finishing = 0;

  const publish = (kind: string, key: RunKey, task?: string) =>
    bus.publish({ kind, namespace: key.namespace, pipeline: key.id, run: key.run, ...(task && { task }) });

  const event = (kind: EventKind, key: RunKey, data: Record<string, unknown>, task?: string) => ({
    kind,
    namespace: key.namespace,
    pipelineId: key.id,
    runId: key.run,
    ...(task && { taskId: task }),
    data,
    at: now(),
  });

  const setTasks = async (run: ActiveRun, changes: { task: string; change: ExecutionChange; kind?: EventKind }[]) => {
    await updateExecutions(
      db,
      run.key,
      changes.map(({ task, change, kind }) => ({
        taskId: task,
        change,
        ...(kind && { event: event(kind, run.key, { ...change }, task) }),
      })),
    );
    for (const { task, change, kind } of changes) {
      if (change.state) run.states.set(task, change.state);
      if (kind) publish(kind, run.key, task);
    }
  };

  /** Versions are never changed once stored, so the recent ones are kept parsed. */
  const versions = new Map<string, VersionRow>();
  const cachedVersion = async (key: PipelineKey, number: number): Promise<VersionRow | undefined> => {
    const cacheKey = `${key.namespace}/${key.id}@${number}`;
    const cached = versions.get(cacheKey);
    if (cached) return cached;
    const row = await getVersion(db, key, number);
    if (!row) return undefined;
    if (versions.size >= VERSION_CACHE_SIZE) versions.delete(versions.keys().next().value!);
    versions.set(cacheKey, row);
    return row;
  };

  const startRun = async (key: PipelineKey, start: StartRunOptions): Promise<RunWithTasks> => {
    const pipeline = await requirePipeline(db, key);
    if (pipeline.currentVersion === null) {
      const problem = pipeline.loadError?.issues[0];
      throw new ConflictError(
        `pipeline ${key.namespace}/${key.id} has no valid version to run${problem ? `: ${problem.path ? `${problem.path}: ` : ""}${problem.message}` : ""}`,
      );
    }
    const version = await cachedVersion(key, pipeline.currentVersion);
    if (!version) throw new NotFoundError(`version ${pipeline.currentVersion} of ${key.namespace}/${key.id} not found`);
    const variables = start.variables ?? {};
    for (const name of Object.keys(variables)) {
      if (!ENV_NAME_PATTERN.test(name)) throw new ValidationError(`variable "${name}" is not a valid environment variable name`);
      if (name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)) throw new ValidationError(`variable "${name}": GANTRY_* names are reserved`);
      // An environment variable cannot hold NUL; refuse it here rather than fail the task later.
      if (variables[name]!.includes("\0")) throw new ValidationError(`variable "${name}" contains a NUL character`);
    }
    const systemVariables = start.systemVariables ?? {};
    for (const [name, value] of Object.entries(systemVariables)) {
      if (!ENV_NAME_PATTERN.test(name) || !name.startsWith(RESERVED_ENV_PREFIX)) throw new ValidationError(`system variable "${name}" must be a GANTRY_* name`);
      if (value.includes("\0")) throw new ValidationError(`system variable "${name}" contains a NUL character`);
    }
    // Run variables cannot be GANTRY_* names, so the two never overlap.
    const allVariables = { ...variables, ...systemVariables };
    const spec = version.spec;
    const run = await createRun(
      db,
      key,
      {
        trigger: start.trigger,
        version: version.version,
        variables: allVariables,
        tasks: spec.tasks.map((task) => ({ id: task.id, kind: task.kind })),
        ...(start.delivery && { delivery: start.delivery }),
      },
      now(),
    );
    const runKey = { ...key, run: run.id };
    // Stored running: a run has no queue of its own (its tasks wait for slots), so "pending"
    // would last only until the next commit, which was one more fsync per run.
    publish("run.created", runKey);
    publish("run.started", runKey);
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const activeRun: ActiveRun = {
      key: runKey,
      spec,
      bundlePath: version.bundlePath,
      variables: allVariables,
      noSecrets: start.noSecrets === true,
      workspace: join(options.workspacesDir, key.namespace, key.id, String(run.id)),
      states: new Map(spec.tasks.map((task) => [task.id, "pending" as TaskState])),
      inFlight: new Set(),
      handles: new Map(),
      cancelled: false,
      tokenIds: [],
      scheduling: Promise.resolve(),
      finished,
      finish,
    };
    active.set(runKeyString(runKey), activeRun);
    void drive(activeRun).catch((error) => console.error(`run ${runKeyString(runKey)} failed internally:`, error));
    return run;
  };

  const drive = async (run: ActiveRun) => {
    try {
      // World-writable: containers may run as any user and must share it with run() tasks.
      // The janitor removes it once newer runs push it out of the retention window.
      // Off the event loop: behind the database's fsyncs a mkdir can wait on the file
      // system's journal for a millisecond, and a burst of new runs would stall everything.
      await mkdir(run.workspace, { recursive: true });
      await chmod(run.workspace, 0o777);
      await schedule(run);
      await run.finished;
      await endRun(run);
    } catch (error) {
      // An internal failure still ends the run, so nothing stays "running" forever.
      await updateRun(
        db,
        run.key,
        { state: "failed", reason: `internal error: ${(error as Error).message}`, endedAt: now() },
        event("run.finished", run.key, { state: "failed", reason: "internal error" }),
      ).catch(() => undefined);
      // Live pages re-read a run only when told it changed.
      publish("run.finished", run.key);
      throw error;
    } finally {
      active.delete(runKeyString(run.key));
      // The run has ended and said so; its clean-up only holds up idle().
      finishing++;
      try {
        await run.objectsToken?.stored.catch(() => undefined);
        if (run.tokenIds.length > 0) await options.tokens?.revoke(run.tokenIds).catch(() => undefined);
        await options.afterRun?.(run.key).catch((error) => console.error(`after run ${runKeyString(run.key)}:`, error));
      } finally {
        finishing--;
      }
      if (active.size === 0 && finishing === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  };

  const endRun = async (run: ActiveRun) => {
    const outcome = run.cancelled ? "cancelled" : runOutcome(run.states.values());
    const failedTasks = [...run.states].filter(([, state]) => state === "failed").map(([id]) => id);
    const reason =
      outcome === "cancelled"
        ? `cancelled${run.cancelledBy ? ` by ${run.cancelledBy}` : ""}`
        : outcome === "failed"
          ? `task${failedTasks.length > 1 ? "s" : ""} ${failedTasks.join(", ")} failed`
          : null;
    await updateRun(
      db,
      run.key,
      { state: outcome, reason, endedAt: now() },
      event("run.finished", run.key, { state: outcome, ...(reason && { reason }) }),
    );
    publish("run.finished", run.key);
  };

  /** Applies skips and cancellations, then starts what may start. Called after every task ends. */
  const schedule = (run: ActiveRun): Promise<void> => {
    const pass = run.scheduling.then(() => schedulePass(run));
    run.scheduling = pass.catch(() => undefined);
    return pass;
  };

  const schedulePass = async (run: ActiveRun): Promise<void> => {
    if (run.cancelled) {
      const pending = [...run.states].filter(([task, state]) => state === "pending" && !run.inFlight.has(task));
      await setTasks(
        run,
        pending.map(([task]) => ({ task, change: { state: "cancelled", reason: "run cancelled", endedAt: now() }, kind: "task.finished" })),
      );
    } else {
      for (;;) {
        const step = nextStep(run.spec.tasks, run.states);
        if (step.skip.length === 0) break;
        await setTasks(
          run,
          step.skip.map((task) => ({ task, change: { state: "skipped", reason: skipReason(run, task), endedAt: now() }, kind: "task.finished" })),
        );
      }
      const step = nextStep(run.spec.tasks, run.states);
      for (const taskId of step.ready) {
        if (run.inFlight.has(taskId)) continue;
        if (run.inFlight.size >= run.spec.parallelism) break;
        run.inFlight.add(taskId);
        const task = run.spec.tasks.find((candidate) => candidate.id === taskId)!;
        void executeTask(run, task).catch((error) => console.error(`task ${taskId} of ${runKeyString(run.key)}:`, error));
      }
    }
    if (run.inFlight.size === 0 && [...run.states.values()].every(isFinalTaskState)) run.finish();
  };

  const skipReason = (run: ActiveRun, taskId: string): string => {
    const task = run.spec.tasks.find((candidate) => candidate.id === taskId)!;
    for (const [upstream, condition] of Object.entries(task.needs)) {
      const state = run.states.get(upstream);
      if (state && isFinalTaskState(state) && !(condition === "any" || (condition === "success" ? state === "successful" : state === "failed"))) {
        return `needs ${upstream} to be ${condition === "success" ? "successful" : "failed"}, but it was ${state}`;
      }
    }
    return "its conditions can no longer be met";
  };

  const executeTask = async (run: ActiveRun, task: TaskSpec) => {
    const release = await limiter.acquire();
    try {
      // A throw here must still end the task: left pending, the scheduler would start it again at once, forever.
      const final = await attemptTask(run, task).catch((error: unknown) => ({
        state: "failed" as const,
        exitCode: null,
        reason: `internal error: ${(error as Error).message}`,
      }));
      await setTasks(run, [{ task: task.id, change: { ...final, pid: null, endedAt: now() }, kind: "task.finished" }]);
    } finally {
      release();
      run.inFlight.delete(task.id);
      run.handles.delete(task.id);
      await schedule(run);
    }
  };

  /** Runs the attempts of a task and returns its final state. */
  const attemptTask = async (
    run: ActiveRun,
    task: TaskSpec,
  ): Promise<{ state: TaskState; exitCode: number | null; reason: string | null }> => {
    // Masked before anything is stored or streamed: secrets never reach a log.
    const log = maskingLogWriter(logs.open({ namespace: run.key.namespace, pipeline: run.key.id, run: run.key.run, task: task.id }));
    try {
      const attempts = task.retries + 1;
      let last: { state: TaskState; exitCode: number | null; reason: string | null } = {
        state: "cancelled",
        exitCode: null,
        reason: "run cancelled",
      };
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (run.cancelled) return { state: "cancelled", exitCode: null, reason: "run cancelled" };
        if (attempt > 1) log.line("gantry", `attempt ${attempt} of ${attempts}`);
        const executor = options.executors[task.kind];
        const prepared = executor ? await taskEnvironment(run, task) : undefined;
        if (!executor || typeof prepared === "string") {
          const reason = !executor
            ? task.kind === "container"
              ? "container tasks need a Docker engine, and none is configured"
              : "no executor for run() tasks"
            : (prepared as string);
          log.line("gantry", reason);
          await setTasks(run, [{ task: task.id, change: { state: "running", attempt, startedAt: now() }, kind: "task.started" }]);
          return { state: "failed", exitCode: null, reason };
        }
        log.addSecrets(prepared!.secrets);
        const handle = executor.start({
          namespace: run.key.namespace,
          pipeline: run.key.id,
          run: run.key.run,
          task,
          attempt,
          bundlePath: run.bundlePath,
          env: prepared!.env,
          ...(prepared!.registryAuth !== undefined && { registryAuth: prepared!.registryAuth }),
          workspace: run.workspace,
          log,
        });
        run.handles.set(task.id, handle);
        await setTasks(run, [
          {
            task: task.id,
            change: { state: "running", attempt, pid: handle.pid ?? null, ...(attempt === 1 && { startedAt: now() }) },
            kind: attempt === 1 ? "task.started" : "task.retried",
          },
        ]);
        // A cancel that came while the task was starting must still reach it.
        if (run.cancelled) handle.stop(options.killGraceMs);
        let timedOut = false;
        const timer =
          task.timeoutMs !== undefined
            ? setTimeout(() => {
                timedOut = true;
                log.line("gantry", `timed out after ${formatDuration(task.timeoutMs!)}; stopping`);
                handle.stop(options.killGraceMs);
              }, task.timeoutMs)
            : undefined;
        const exit = await handle.exited;
        clearTimeout(timer);
        run.handles.delete(task.id);
        if (run.cancelled) return { state: "cancelled", exitCode: exit.exitCode, reason: "run cancelled" };
        if (timedOut) {
          last = { state: "failed", exitCode: exit.exitCode, reason: `timed out after ${formatDuration(task.timeoutMs!)}` };
        } else if (exit.exitCode === 0) {
          return { state: "successful", exitCode: 0, reason: null };
        } else {
          // A thrown error's message may quote a secret too.
          last = { state: "failed", exitCode: exit.exitCode, reason: log.mask(exit.reason ?? `exited with code ${exit.exitCode}`) };
        }
        if (attempt < attempts) log.line("gantry", `attempt ${attempt} failed: ${last.reason}; retrying`);
        else log.line("gantry", `failed: ${last.reason}`);
      }
      return last;
    } finally {
      log.close();
    }
  };

  /** A secret's value, or why the task cannot have it (`what` names it in the message). */
  const readSecret = async (run: ActiveRun, name: string, what: string): Promise<{ value: string } | string> => {
    if (run.noSecrets) return SECRETS_WITHHELD_REASON;
    let value: string | undefined;
    try {
      value = await options.resolveSecret?.(run.key, name);
    } catch (error) {
      // A ciphertext the key cannot open (tampered, or moved to another name) fails the task, like a missing one.
      return `${what} cannot be read: ${(error as Error).message}`;
    }
    return value === undefined ? `${what} does not exist` : { value };
  };

  /**
   * The task's environment, its registry credentials and the secret values in both, or a
   * reason it cannot start (a missing secret, or any secret in a run that may not have one).
   */
  const taskEnvironment = async (
    run: ActiveRun,
    task: TaskSpec,
  ): Promise<{ env: Record<string, string>; registryAuth?: string; secrets: string[] } | string> => {
    const env: Record<string, string> = { ...run.spec.variables };
    const secrets: string[] = [];
    for (const [name, value] of Object.entries(task.env)) {
      if (typeof value === "string") {
        env[name] = value;
        continue;
      }
      const resolved = await readSecret(run, value.secret, `secret "${value.secret}" (for ${name})`);
      if (typeof resolved === "string") return resolved;
      env[name] = resolved.value;
      secrets.push(resolved.value);
    }
    // Resolved here, not by the executor, so a fork's run is refused it and its value is masked.
    let registryAuth: string | undefined;
    const pullSecret = task.container?.pullSecret;
    if (pullSecret) {
      const resolved = await readSecret(run, pullSecret, `pull secret "${pullSecret}"`);
      if (typeof resolved === "string") return resolved;
      registryAuth = resolved.value;
      secrets.push(resolved.value);
    }
    Object.assign(env, run.variables);
    // System variables last: a pipeline cannot override them.
    env.GANTRY_NAMESPACE = run.key.namespace;
    env.GANTRY_PIPELINE_ID = run.key.id;
    env.GANTRY_RUN_ID = String(run.key.run);
    env.GANTRY_TASK_ID = task.id;
    env.GANTRY_API_URL = options.apiUrl();
    env.GANTRY_WORKSPACE = run.workspace;
    if (task.kind === "run" && options.tokens) {
      // One per run, limited to objects of its own pipeline; the runner takes it out of the env.
      // Its insert is not awaited: the task process starts while it commits, and the
      // database serialises in call order, so the task's first request already finds it.
      if (!run.objectsToken) {
        run.objectsToken = options.tokens.issue(run.key, "objects", "objects");
        run.tokenIds.push(run.objectsToken.id);
        run.objectsToken.stored.catch((error) => console.error(`run ${runKeyString(run.key)}: storing its objects token failed:`, error));
      }
      env[OBJECTS_TOKEN_ENV] = run.objectsToken.secret;
      secrets.push(run.objectsToken.secret);
    }
    // The API token acts with the pipeline's rights, which code from a fork must not get.
    if (task.injectApiToken && options.tokens && !run.noSecrets) {
      const token = options.tokens.issue(run.key, task.id);
      await token.stored;
      run.tokenIds.push(token.id);
      env.GANTRY_API_TOKEN = token.secret;
      secrets.push(token.secret);
    }
    return { env, ...(registryAuth !== undefined && { registryAuth }), secrets };
  };

  const cancelRun = async (key: RunKey, by?: string) => {
    const run = active.get(runKeyString(key));
    if (!run) {
      const stored = await getRun(db, key);
      if (!stored) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
      throw new ConflictError(`run ${key.run} of ${key.namespace}/${key.id} has already ended (${stored.state})`);
    }
    if (run.cancelled) return;
    run.cancelled = true;
    if (by) run.cancelledBy = by;
    for (const handle of run.handles.values()) handle.stop(options.killGraceMs);
    await schedule(run);
  };

  const recoverOrphans = async () => {
    const orphans = await listUnfinishedRuns(db);
    for (const run of orphans) {
      for (const task of run.tasks) {
        if (task.pid && isOurTaskProcess(task.pid)) {
          try {
            process.kill(-task.pid, "SIGKILL");
          } catch {
            // gone already
          }
        }
      }
      await finishOrphanedRun(db, run, now());
      publish("run.finished", { namespace: run.namespace, id: run.pipelineId, run: run.id });
    }
    return orphans.length;
  };

  return {
    startRun,
    cancelRun,
    recoverOrphans,
    isActive: (key) => active.has(runKeyString(key)),
    idle: () => (active.size === 0 && finishing === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
    async shutdown() {
      await Promise.all([...active.values()].map((run) => cancelRun(run.key, "server shutdown").catch(() => undefined)));
      await Promise.all([...active.values()].map((run) => run.finished));
      if (active.size > 0 || finishing > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
  };
}

/** Checks a pid is a Gantry task runner before killing its group (pids get reused). */
function isOurTaskProcess(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("task-runner") || cmdline.includes(TASK_RUNNER_COMMAND);
  } catch {
    return false;
  }
}
