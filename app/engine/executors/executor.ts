// What the engine needs from anything that runs a task. Work is addressed by a reference
// the engine stores before it starts (a container name, a process marker), so a restarted
// server can find it again: start, attach(ref), stop(ref), cleanup(ref).
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import type { LineCounts } from "../../stores/logs.ts";
import type { MaskingLogWriter } from "../../stores/log-masking.ts";

export interface TaskLaunch {
  namespace: string;
  pipeline: string;
  run: number;
  task: TaskSpec;
  attempt: number;
  /** The attempt's reference, from `reference()`, stored with its claim. */
  ref: string;
  /** The version's bundle; run() tasks import it. */
  bundlePath: string;
  /** The complete environment of the task. */
  env: Record<string, string>;
  /** A container task's registry credentials (its pull secret's value), for pulling its image. */
  registryAuth?: string;
  workspace: string;
  /**
   * No other task of the run uses the workspace as this one starts (those before it have
   * ended): the executor may give it a new folder at the same path with the same entries.
   */
  workspaceAlone?: boolean;
  /** The attempt's log, masking the task's secrets (and any the executor reads later, as a deploy does). */
  log: MaskingLogWriter;
  /**
   * The work may be prepared at once (a process started, a container created) but begins
   * only once this resolves true: the attempt's claim is stored. False: it never begins.
   */
  gate?: Promise<boolean>;
  /** The run's node, for executors that place work on one of several (all of a run's tasks share its workspace). */
  placement?: RunPlacement;
  /**
   * Why the work has not begun yet ("waiting for a node: ..."), shown as the task's reason
   * while it waits; undefined once it has begun.
   */
  waiting?(reason: string | undefined): void;
}

/**
 * Where a run's work goes on an executor with several nodes: every task on the node that took
 * the run's first one, since they share its workspace.
 */
export interface RunPlacement {
  /**
   * The node the run is pinned to; undefined when this task is the first to be placed, which
   * must then call `placed` or `unplaced`. Waits while another task of the run is being placed.
   */
  claim(signal?: AbortSignal): Promise<string | undefined>;
  /** A task of the run was given this node: it is recorded, and tasks waiting to be placed go there. */
  placed(node: string): Promise<void>;
  /** The first task ended without a node: the next task to start places the run. */
  unplaced(): void;
}

export interface TaskExit {
  exitCode: number | null;
  /** A sentence for people when the task did not succeed ("threw: ...", "exited with code 2"). */
  reason?: string;
  /** It never began: still waiting for this when it was stopped ("waiting for a node: ..."), said with a timeout. */
  waitingFor?: string;
}

export interface TaskHandle {
  exited: Promise<TaskExit>;
  /** SIGTERM now, SIGKILL after the grace period if it is still running. */
  stop(graceMs: number): void;
  /**
   * The server is stopping but the work may go on without it (a container): stop following
   * it, leave it running for the next server to attach to. Work that cannot outlive the
   * server (a process whose output pipes end with it) is stopped.
   */
  detach(graceMs: number): void;
}

/** What a restarted server finds of an attempt by its reference. */
export type AttachResult =
  /** The work is there (running or ended): its handle, its output continuing in the log. */
  | { status: "attached"; handle: TaskHandle; env?: Record<string, string> }
  /** Nothing ever started: the same attempt may start again. */
  | { status: "never-started" }
  /** It may have run but cannot be followed: the attempt failed, for this reason. */
  | { status: "lost"; reason: string };

export interface AttachOptions {
  launch: TaskLaunch;
  /** Output lines the log already holds for this attempt: not written again. */
  stored: LineCounts;
}

/** The executors an attempt can be stored under (task_attempts.executor). */
export type ExecutorKind = "run" | "container" | "swarm";

export interface Executor {
  readonly kind: ExecutorKind;
  /** A new, unique reference for an attempt, known before it starts. */
  reference(launch: Omit<TaskLaunch, "ref" | "env" | "log">): string;
  start(launch: TaskLaunch): TaskHandle;
  /** Finds an attempt's work after a restart. Throws when it cannot tell yet (the engine is unreachable). */
  attach(options: AttachOptions): Promise<AttachResult>;
  /** Stops the work of a reference, whether or not this process started it. */
  stop(ref: string, graceMs: number): Promise<void>;
  /** Removes what the attempt left (a stopped container), once its end is recorded. */
  cleanup(ref: string): Promise<void>;
  /**
   * A new run's workspace is about to be made, for `runTasks` tasks of this executor: it may
   * make the folder itself from work it keeps ready (true: the folder exists now), waiting
   * for that work a moment only while `slotFree` says the run could start its task.
   */
  prepareWorkspace?(workspace: string, runTasks: number, slotFree: () => boolean): Promise<boolean>;
  /** The workspace's run has ended here: what the executor kept ready for it goes. */
  releaseWorkspace?(workspace: string): void;
  /** The engine is starting, before it takes its runs back: what a killed server left half done here is finished. */
  repair?(): void;
  /** The engine has started: work may be prepared ahead. */
  warm?(): void;
  /** The engine has stopped: what was prepared ahead goes. */
  close?(): void;
}
