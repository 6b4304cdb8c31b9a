// Whether a task of a run may be exec'd into (`gantry run exec`), and if so which container:
// data in, decision out. The refusals name why, so the CLI can print them as they are.
import { ConflictError, ForbiddenError, NotFoundError } from "./errors.ts";
import type { TaskSpec } from "./pipeline-spec.ts";
import type { TaskState } from "./states.ts";

export interface ExecCandidate {
  /** "<ns>/<pipeline> run <n>", for messages. */
  label: string;
  /** The run may not read secrets: a pull request from a fork started it. */
  noSecrets: boolean;
  /** The task's execution in the run; undefined when the run has no such task. */
  execution: { taskId: string; kind: "run" | "container" | "approval"; state: TaskState; reusedFrom: number | null } | undefined;
  /** The execution's latest attempt, if it has begun one. */
  attempt: { state: string; executor: "run" | "container" | "swarm"; ref: string | null } | undefined;
  /** The task as its run's version defines it. */
  task: TaskSpec | undefined;
}

/** The container to exec into: the stored reference of the task's current attempt. */
export interface ExecTarget {
  ref: string;
}

/** Decides, or throws the refusal (NotFoundError, ConflictError, ForbiddenError). */
export function execTarget(candidate: ExecCandidate): ExecTarget {
  const { execution, attempt, task, label } = candidate;
  if (!execution) throw new NotFoundError(`task not found in ${label}`);
  const name = `task ${execution.taskId} of ${label}`;
  // Code from a fork's pull request runs there: a person's terminal (and what they type) is not handed to it.
  if (candidate.noSecrets) {
    throw new ForbiddenError(`${label} was started by a pull request from a fork: its containers run code nobody here reviewed, so exec into them is refused`);
  }
  if (execution.kind !== "container" || !task?.container) {
    throw new ConflictError(`${name} is a ${execution.kind === "approval" ? "approval gate" : "run() task"}: only container tasks can be exec'd into`);
  }
  const { container } = task;
  if (container.build || container.push || container.deploy) {
    const what = container.build ? "an image build" : container.push ? "an image push" : "a deploy";
    throw new ConflictError(`${name} is ${what}, which runs no container of its own: only container tasks can be exec'd into`);
  }
  if (execution.reusedFrom !== null) throw new ConflictError(`${name} is reused from run ${execution.reusedFrom}: it did not run in this run`);
  if (execution.state !== "running") {
    const when = execution.state === "pending" ? "it has not started yet" : `it has ended (${execution.state})`;
    throw new ConflictError(`${name} is ${execution.state}: only a running task can be exec'd into, and ${when}`);
  }
  if (!attempt || attempt.state !== "running" || !attempt.ref) {
    throw new ConflictError(`${name} is between attempts (waiting to retry or for its container): try again once it runs`);
  }
  if (attempt.executor === "swarm") {
    throw new ConflictError(`${name} runs as a Swarm service, whose container may be on any node of the cluster: exec is supported for tasks of the docker executor only`);
  }
  return { ref: attempt.ref };
}
