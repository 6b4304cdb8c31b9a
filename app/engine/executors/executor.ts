// What the orchestrator needs from anything that runs a task: start it, wait for its
// end, stop it with a grace period.
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import type { LogWriter } from "../../stores/logs.ts";

export interface TaskLaunch {
  namespace: string;
  pipeline: string;
  run: number;
  task: TaskSpec;
  attempt: number;
  /** The version's bundle; run() tasks import it. */
  bundlePath: string;
  /** The complete environment of the task. */
  env: Record<string, string>;
  /** A container task's registry credentials (its pull secret's value), for pulling its image. */
  registryAuth?: string;
  workspace: string;
  log: LogWriter;
}

export interface TaskExit {
  exitCode: number | null;
  /** A sentence for people when the task did not succeed ("threw: ...", "exited with code 2"). */
  reason?: string;
}

export interface TaskHandle {
  /** Process group (run() tasks), kept so a restarted server can clean up. */
  pid?: number;
  exited: Promise<TaskExit>;
  /** SIGTERM now, SIGKILL after the grace period if it is still running. */
  stop(graceMs: number): void;
}

export interface Executor {
  readonly kind: "run" | "container";
  start(launch: TaskLaunch): TaskHandle;
}
