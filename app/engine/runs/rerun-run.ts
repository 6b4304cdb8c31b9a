// Re-run: a new run of the same version with the same variables, recording the run it
// repeats. With "failed", the tasks that succeeded are reused (not executed again) and the
// new run starts from a copy of the original's workspace; everything downstream of a
// failed, skipped or cancelled task runs.
import { existsSync } from "node:fs";
import { getRun, type ExecutionRow, type RunWithTasks } from "../../db/repos/runs.ts";
import { ConflictError, NotFoundError } from "../../domain/errors.ts";
import { ORIGIN_RUN_VARIABLE, RESERVED_ENV_PREFIX } from "../../domain/ids.ts";
import { planRerun, type RerunScope } from "../../domain/rerun-plan.ts";
import type { RunKey } from "../../domain/run-key.ts";
import type { RunTrigger } from "../../domain/run-trigger.ts";
import type { RunActor } from "../../domain/approvals.ts";
import { isFinalRunState } from "../../domain/states.ts";
import { createRun } from "./create-run.ts";
import { workspacePath } from "./driven-run.ts";
import type { EngineContext } from "./engine-context.ts";

export interface RerunOptions {
  only: RerunScope;
  trigger: RunTrigger;
  /** Who re-runs it (required: an approval in the new run refuses their own decision). */
  actor: RunActor;
}

export async function rerunRun(ctx: EngineContext, key: RunKey, options: RerunOptions, actOnCancel: (key: RunKey, reason: string) => void): Promise<RunWithTasks> {
  const original = await getRun(ctx.db, key);
  const name = `run ${key.run} of ${key.namespace}/${key.id}`;
  if (!original) throw new NotFoundError(`${name} not found`);
  if (!isFinalRunState(original.state)) throw new ConflictError(`${name} is ${original.state}: only a run that has ended can be re-run`);
  const version = await ctx.version(key, original.version);
  if (!version || !existsSync(version.bundlePath)) {
    throw new ConflictError(`${name} ran version ${original.version}, whose code was pruned; start a new run of the current version instead`);
  }
  const reused = new Map<string, { run: number; execution: ExecutionRow }>();
  if (options.only === "failed") {
    const plan = planRerun(version.spec.tasks, new Map(original.tasks.map((task) => [task.taskId, task.state])), "failed");
    for (const execution of original.tasks) {
      // A task the original itself reused points at the run that executed it.
      if (plan.get(execution.taskId) === "reused") reused.set(execution.taskId, { run: execution.reusedFrom ?? original.id, execution });
    }
    if (reused.size === version.spec.tasks.length) throw new ConflictError(`${name} has no failed, skipped or cancelled task to re-run`);
    if (reused.size > 0 && !existsSync(workspacePath(ctx.workspacesDir, key))) {
      throw new ConflictError(`the workspace of ${name} was pruned, so the files of its successful tasks are gone; re-run all tasks instead`);
    }
  }
  const variables: Record<string, string> = {};
  const systemVariables: Record<string, string> = {};
  for (const [variable, value] of Object.entries(original.variables)) {
    (variable.toUpperCase().startsWith(RESERVED_ENV_PREFIX) ? systemVariables : variables)[variable] = value;
  }
  // What reused tasks made (an image tagged by run id, say) carries the id of the run that first
  // executed them: that id carries over, so later tasks find it. A re-run of all tasks is its own origin.
  if (reused.size > 0) systemVariables[ORIGIN_RUN_VARIABLE] = original.variables[ORIGIN_RUN_VARIABLE] ?? String(original.id);
  else delete systemVariables[ORIGIN_RUN_VARIABLE];
  return createRun(
    ctx,
    key,
    // The same inputs: they were checked against this same version when the original started.
    {
      variables,
      systemVariables,
      inputs: original.inputs,
      trigger: options.trigger,
      noSecrets: original.noSecrets,
      actor: options.actor,
      // A run pinned to a commit is re-run as of the same commit.
      ...(original.commit && { pinned: { version: original.version, commit: original.commit } }),
    },
    actOnCancel,
    { version: original.version, of: original.id, only: options.only, reused },
  );
}
