// Start: checks the variables, picks the version, and stores the run in one transaction
// with its admission: a run that needs no queue (no concurrency settings, not paused) is
// stored running and driven at once; any other waits queued until admission lets it in.
import { requirePipeline } from "../../db/repos/pipelines.ts";
import { insertRun, type ExecutionRow, type RunWithTasks } from "../../db/repos/runs.ts";
import { getSystemState } from "../../db/repos/system-state.ts";
import { concurrencyKey, runConcurrency } from "../../domain/concurrency.ts";
import { ConflictError, InvalidInputsError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import type { RunActor } from "../../domain/approvals.ts";
import { checkInputs, fromText, type InputSpec, type InputValues } from "../../domain/run-inputs.ts";
import { ENV_NAME_PATTERN, RESERVED_ENV_PREFIX } from "../../domain/ids.ts";
import { runVariableNameProblem, runVariablesProblem } from "../../domain/run-variables.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { RerunScope } from "../../domain/rerun-plan.ts";
import type { RunTrigger } from "../../domain/run-trigger.ts";
import type { RunKey } from "../../domain/run-key.ts";
import { admitInTransaction, afterAdmission, type Admitted } from "./admit-runs.ts";
import type { EngineContext } from "./engine-context.ts";

export interface StartRunOptions {
  variables?: Record<string, string>;
  /**
   * Values of the pipeline's inputs, checked against its schemas (defaults applied). With
   * `inputsFrom: "text"` they may be strings, converted by each schema (a form, `-i`).
   * Run variables named like an input set that input (text), so triggers map into inputs.
   */
  inputs?: Record<string, unknown>;
  inputsFrom?: "json" | "text";
  /** Who starts it (a person or a token): an approval refuses their own decision. */
  actor?: RunActor;
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
  /**
   * Runs the pipeline as of an older commit of its source: the version that commit left
   * current (resolved by the sources, which check the commit) and the commit, recorded.
   */
  pinned?: { version: number; commit: string };
}

/** What a re-run adds: the version it keeps, the run it repeats, and the tasks it reuses. */
export interface RerunStart {
  version: number;
  of: number;
  only: RerunScope;
  reused: Map<string, { run: number; execution: ExecutionRow }>;
}

function checkVariables(variables: Record<string, string>, systemVariables: Record<string, string>): void {
  // The one place every run's variables pass (API, web form, webhooks, extensions, re-runs).
  const problem = runVariablesProblem(variables);
  if (problem) throw new ValidationError(problem);
  for (const name of Object.keys(variables)) {
    if (!ENV_NAME_PATTERN.test(name)) throw new ValidationError(`variable "${name}" is not a valid environment variable name`);
    if (name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)) throw new ValidationError(`variable "${name}": GANTRY_* names are reserved`);
    const denied = runVariableNameProblem(name);
    if (denied) throw new ValidationError(denied);
    // An environment variable cannot hold NUL; refuse it here rather than fail the task later.
    if (variables[name]!.includes("\0")) throw new ValidationError(`variable "${name}" contains a NUL character`);
  }
  for (const [name, value] of Object.entries(systemVariables)) {
    if (!ENV_NAME_PATTERN.test(name) || !name.startsWith(RESERVED_ENV_PREFIX)) throw new ValidationError(`system variable "${name}" must be a GANTRY_* name`);
    if (value.includes("\0")) throw new ValidationError(`system variable "${name}" contains a NUL character`);
  }
}

/**
 * The run's checked inputs, and its variables without those that named an input (read as
 * text by the input's schema). Every problem is reported at once, by input name.
 */
function runInputs(declared: readonly InputSpec[], start: StartRunOptions): { variables: Record<string, string>; inputs: InputValues } {
  const variables = { ...(start.variables ?? {}) };
  const given: Record<string, unknown> = {};
  for (const input of declared) {
    if (!Object.hasOwn(variables, input.name)) continue;
    given[input.name] = start.inputsFrom === "text" ? variables[input.name] : fromText(input.schema, variables[input.name]!);
    delete variables[input.name];
  }
  Object.assign(given, start.inputs ?? {});
  const checked = checkInputs(declared, given, { text: start.inputsFrom === "text" });
  if (!checked.ok) throw new InvalidInputsError(checked.problems);
  return { variables, inputs: checked.values };
}

export async function createRun(
  ctx: EngineContext,
  key: PipelineKey,
  start: StartRunOptions,
  actOnCancel: (key: RunKey, reason: string) => void,
  rerun?: RerunStart,
): Promise<RunWithTasks> {
  if (ctx.stopped || ctx.draining) throw new ConflictError("the server is stopping; start the run again once it is back");
  const pipeline = await requirePipeline(ctx.db, key);
  const number = rerun?.version ?? start.pinned?.version ?? pipeline.currentVersion;
  if (number === null) {
    const problem = pipeline.loadError?.issues[0];
    throw new ConflictError(
      `pipeline ${key.namespace}/${key.id} has no valid version to run${problem ? `: ${problem.path ? `${problem.path}: ` : ""}${problem.message}` : ""}`,
    );
  }
  const version = await ctx.version(key, number);
  if (!version) throw new NotFoundError(`version ${number} of ${key.namespace}/${key.id} not found`);
  const { variables, inputs } = runInputs(version.spec.inputs ?? [], start);
  const systemVariables = start.systemVariables ?? {};
  checkVariables(variables, systemVariables);
  // Run variables cannot be GANTRY_* names, so the two never overlap.
  const allVariables = { ...variables, ...systemVariables };
  const spec = version.spec;
  const groupKey = concurrencyKey(key, spec.concurrency, {
    ...spec.variables,
    ...allVariables,
    GANTRY_NAMESPACE: key.namespace,
    GANTRY_PIPELINE_ID: key.id,
  });
  const commit = start.pinned?.commit ?? version.origin?.sha;
  const newRun = {
    trigger: start.trigger,
    version: version.version,
    ...(commit && { commit }),
    variables: allVariables,
    inputs,
    ...(start.actor && { actor: start.actor }),
    noSecrets: start.noSecrets === true,
    tasks: spec.tasks.map((task) => {
      const reused = rerun?.reused.get(task.id);
      return { id: task.id, kind: task.kind, ...(reused && { reusedFrom: reused }) };
    }),
    concurrencyKey: groupKey,
    concurrency: runConcurrency(spec.concurrency),
    ...(rerun && { rerun: { of: rerun.of, only: rerun.only } }),
    ...(start.delivery && { delivery: start.delivery }),
  };
  const { run, admitted } = await ctx.db.transaction(async (tx) => {
    const { paused } = await getSystemState(tx);
    // The common case: nothing to wait for, so the run is stored running (one commit).
    if (!paused && groupKey === null) {
      const run = await insertRun(tx, key, newRun, ctx.now(), { nodeId: ctx.node.id, leaseExpiresAt: ctx.leaseUntil() }, ctx.node.id);
      return { run, admitted: undefined };
    }
    const run = await insertRun(tx, key, newRun, ctx.now(), undefined, ctx.node.id);
    const admitted: Admitted = await admitInTransaction(ctx, tx, [groupKey], paused);
    return { run, admitted };
  });
  const runKey = { ...key, run: run.id };
  ctx.publish("run.created", runKey);
  if (!admitted) {
    ctx.publish("run.started", runKey);
    await ctx.drive(run);
    return run;
  }
  await afterAdmission(ctx, admitted, actOnCancel);
  const startedNow = admitted.started.some((started) => started.run === run.id && started.id === key.id && started.namespace === key.namespace);
  return startedNow ? { ...run, state: "running", startedAt: run.queuedAt, nodeId: ctx.node.id } : run;
}
