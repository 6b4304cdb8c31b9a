// A run this process drives, in memory: its spec, the task states it mirrors from the
// database (it is their only writer while it holds the run's lease), what is in flight,
// and how it was asked to end.
import { join } from "node:path";
import type { RunWithTasks } from "../../db/repos/runs.ts";
import type { PipelineSpec } from "../../domain/pipeline-spec.ts";
import { runKeyOf, type RunKey } from "../../domain/run-key.ts";
import type { TaskState } from "../../domain/states.ts";
import { planRun, type RunEnd } from "../../domain/run-plan.ts";
import type { InputValues } from "../../domain/run-inputs.ts";
import type { ExecutorKind, TaskHandle } from "../executors/executor.ts";
import type { IssuedToken } from "./engine-context.ts";
import { createRunPlacement, type RunPlacementState } from "./run-placement.ts";

export interface DrivenRun {
  key: RunKey;
  spec: PipelineSpec;
  bundlePath: string;
  variables: Record<string, string>;
  inputs: InputValues;
  noSecrets: boolean;
  workspace: string;
  concurrencyKey: string | null;
  /** A re-run of failed tasks starts from a copy of this run's workspace. */
  seedFrom?: RunKey;
  states: Map<string, TaskState>;
  /** Exit codes of tasks that have ended (for autoApprove's view of earlier tasks). */
  exitCodes: Map<string, number | null>;
  /** The latest attempt number of each task (0 before its first). */
  attempts: Map<string, number>;
  /** Tasks waiting for a global slot or running. */
  inFlight: Set<string>;
  handles: Map<string, TaskHandle>;
  /** Tasks waiting out their retry delay: each is woken to act on a cancel or on the engine stopping. */
  retryWaits: Set<() => void>;
  /** Approval gates waiting, by task: woken by a decision, a cancel or the engine stopping. */
  gateWaits: Map<string, () => void>;
  /** Each gate's flow, by task, settling once it has ended (a decision made here waits for it). */
  gateEnds: Map<string, Promise<void>>;
  /** The run's approval gates (they take no slot). */
  gates: Set<string>;
  /** Set once a cancel is acted on; the run then ends with this reason. */
  cancelled?: string;
  tokenIds: string[];
  /** The run's token for ctx.objects, issued for its first run() task. */
  objectsToken?: IssuedToken;
  /** The run's bundle token, issued for its first task whose runner fetches the bundle. */
  bundleToken?: IssuedToken;
  /**
   * Values of extension-provided secrets (github-app-token) last handed to the run's tasks, by
   * name: in memory only, so a task's environment read again without new tokens can mask them.
   */
  providedSecrets: Map<string, string>;
  /** The cluster node its tasks go to (they share its workspace), once its first task has one. */
  placement: RunPlacementState;
  /** Taken over from an earlier process: tokens it issued are revoked by name. */
  recovered: boolean;
  /** Another node drives it now: this process stops writing for it. */
  lost: boolean;
  /** Its end was stored with its last task's (runEndWith): ending it only says so. */
  endStored: boolean;
  /** Scheduling passes of a run happen one at a time. */
  scheduling: Promise<void>;
  finished: Promise<void>;
  finish: () => void;
}

export function drivenRun(row: RunWithTasks, spec: PipelineSpec, bundlePath: string, workspacesDir: string, recovered: boolean): DrivenRun {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const key = runKeyOf(row);
  return {
    key,
    spec,
    bundlePath,
    variables: row.variables,
    inputs: row.inputs,
    noSecrets: row.noSecrets,
    workspace: workspacePath(workspacesDir, key),
    concurrencyKey: row.concurrencyKey,
    ...(row.rerunOf !== null && row.tasks.some((task) => task.state === "reused") && { seedFrom: { ...key, run: row.rerunOf } }),
    states: new Map(row.tasks.map((task) => [task.taskId, task.state])),
    attempts: new Map(row.tasks.map((task) => [task.taskId, task.attempt])),
    exitCodes: new Map(row.tasks.map((task) => [task.taskId, task.exitCode])),
    inFlight: new Set(),
    handles: new Map(),
    retryWaits: new Set(),
    gateWaits: new Map(),
    gateEnds: new Map(),
    gates: new Set(spec.tasks.filter((task) => task.kind === "approval").map((task) => task.id)),
    ...(row.cancelRequestedAt && { cancelled: row.cancelReason ?? "cancelled" }),
    tokenIds: [],
    providedSecrets: new Map(),
    placement: createRunPlacement(row.placementNode),
    recovered,
    lost: false,
    endStored: false,
    scheduling: Promise.resolve(),
    finished,
    finish,
  };
}

/**
 * No other task of the run is in flight as `task` starts (waiting for a slot, running, waiting
 * to retry, a gate), and this process still drives it (a run let go of may have containers
 * running on): nothing else uses the workspace, whose folder an executor may then swap
 * for another at the same path with the same entries (runner-pool.ts, handOver).
 */
export const workspaceAlone = (run: DrivenRun, task: { id: string }): boolean => !run.lost && run.inFlight.size === 1 && run.inFlight.has(task.id);

/**
 * How the run ends if `task`, the one task of it in flight, ends in `state` and leaves nothing
 * to start, skip or cancel: then the run's end is stored in the same commit as the task's (one
 * fsync less per run). Undefined otherwise, and for a run a cancel was acted on (its end has its
 * own rules, drive-run.ts endRun).
 */
export function runEndWith(run: DrivenRun, task: { id: string }, state: TaskState): RunEnd | undefined {
  if (run.cancelled !== undefined || !workspaceAlone(run, task)) return undefined;
  const plan = planRun({ tasks: run.spec.tasks, states: new Map(run.states).set(task.id, state), inFlight: new Set(), parallelism: run.spec.parallelism, gates: run.gates });
  return plan.start.length === 0 && plan.skip.length === 0 && plan.cancel.length === 0 ? plan.end : undefined;
}

/** A cancel acted on: running tasks get SIGTERM (SIGKILL after `graceMs`), tasks waiting to retry end now. */
export function stopTasks(run: DrivenRun, graceMs: number): void {
  for (const handle of run.handles.values()) handle.stop(graceMs);
  for (const wake of run.retryWaits) wake();
  for (const wake of run.gateWaits.values()) wake();
}

/**
 * Another node drives the run now (this one's lease lapsed while it stalled): nothing more is
 * written for it here, and the work only this process could follow (run() tasks in its
 * sandbox, image builds, pushes, deploys) is stopped, as a cancel would stop it; the new owner
 * fails and retries those attempts. Containers and swarm services go on: the new owner found
 * them again by their names. `executors`: each attempt's stored executor, by "<task>#<attempt>".
 */
export function letGoOfRun(run: DrivenRun, graceMs: number, executors: ReadonlyMap<string, ExecutorKind>): void {
  run.lost = true;
  for (const [taskId, handle] of run.handles) {
    const task = run.spec.tasks.find((candidate) => candidate.id === taskId);
    const executor = executors.get(`${taskId}#${run.attempts.get(taskId) ?? 0}`);
    const followedElsewhere = executor === "swarm" || (executor === "container" && !task?.container?.build && !task?.container?.push && !task?.container?.deploy);
    if (!followedElsewhere) handle.stop(graceMs);
  }
  for (const wake of run.retryWaits) wake();
  for (const wake of run.gateWaits.values()) wake();
  // Its driving ends here (nothing is recorded of its end: that is the new owner's).
  run.finish();
}

export const workspacePath = (workspacesDir: string, key: RunKey) => join(workspacesDir, key.namespace, key.id, String(key.run));
