// A task's environment: pipeline variables, the task's env with its secrets resolved, run
// variables, then the system's GANTRY_* ones; its registry credentials; and the run's
// tokens. A missing secret, or any secret in a run that may not have one, is a reason the
// task cannot start; the reserved github-app-token is asked of the github extension instead.
import { isProvidedSecret, tokenProviderFor } from "../../domain/github-token.ts";
import type { TaskSpec } from "../../domain/pipeline-spec.ts";
import { runKeyString } from "../../domain/run-key.ts";
import { OBJECTS_TOKEN_ENV } from "../task-runner/objects-client.ts";
import { BUNDLE_TOKEN_ENV } from "../task-runner/command.ts";
import type { DrivenRun } from "./driven-run.ts";
import type { EngineContext } from "./engine-context.ts";
import { composeTaskEnv, SECRETS_WITHHELD_REASON } from "../../domain/task-env.ts";
import { isFinalTaskState } from "../../domain/states.ts";
import { INPUTS_ENV, TASK_RESULTS_ENV } from "../task-runner/run-data.ts";

/** How the run's tasks that have ended so far ended, for autoApprove's ctx.tasks. */
function taskResults(run: DrivenRun): Record<string, { state: string; exitCode: number | null }> {
  const results: Record<string, { state: string; exitCode: number | null }> = {};
  for (const [id, state] of run.states) if (isFinalTaskState(state)) results[id] = { state, exitCode: run.exitCodes.get(id) ?? null };
  return results;
}


export interface TaskEnvironment {
  env: Record<string, string>;
  registryAuth?: string;
  /** Values to mask in the task's log. */
  secrets: string[];
}

/** A secret's value, or why the task cannot have it (`what` names it in the message). */
async function readSecret(ctx: EngineContext, run: DrivenRun, name: string, what: string): Promise<{ value: string } | string> {
  if (run.noSecrets) return SECRETS_WITHHELD_REASON;
  let value: string | undefined;
  try {
    value = await ctx.resolveSecret?.(run.key, name);
  } catch (error) {
    // A ciphertext the key cannot open (tampered, or moved to another name) fails the task, like a missing one.
    return `${what} cannot be read: ${(error as Error).message}`;
  }
  return value === undefined ? `${what} does not exist` : { value };
}

/**
 * A reserved secret (github-app-token): a fresh token from the extension that started the run,
 * else the secret store's value of that name (e.g. a read-only access token for runs started
 * by hand), else the empty string: the task runs without one. Withheld (empty) from a
 * `noSecrets` run, like every secret, but without failing it: the value is optional.
 */
async function providedSecret(ctx: EngineContext, run: DrivenRun, name: string, what: string, issueTokens: boolean): Promise<{ value: string } | string> {
  if (run.noSecrets) return { value: "" };
  // Read again without new tokens (a re-attached task, a cache key): what this process handed
  // out, for masking; never a second token.
  if (!issueTokens) return { value: run.providedSecrets.get(name) ?? "" };
  const extension = tokenProviderFor(name, run.variables);
  if (extension && ctx.provideToken) {
    let token: string | undefined;
    try {
      token = await ctx.provideToken(extension, { namespace: run.key.namespace, pipeline: run.key.id, run: run.key.run, secret: name, variables: run.variables });
    } catch (error) {
      return `${what} cannot be read: extension ${extension}: ${(error as Error).message}`;
    }
    if (token) {
      run.providedSecrets.set(name, token);
      return { value: token };
    }
  }
  let stored: string | undefined;
  try {
    stored = await ctx.resolveSecret?.(run.key, name);
  } catch (error) {
    return `${what} cannot be read: ${(error as Error).message}`;
  }
  return { value: stored ?? "" };
}

export interface TaskEnvironmentOptions {
  /**
   * The task's runner fetches the bundle over the API (a runner in a swarm service, see
   * executors/runner-service.ts): a run() task (or autoApprove) gets the run's bundle token.
   */
  bundleToken?: boolean;
}

/**
 * The task's environment, or the reason it cannot start. With `issueTokens: false` (a task
 * re-attached after a restart) no new token is made: only the secrets, to mask its output.
 */
export async function taskEnvironment(
  ctx: EngineContext,
  run: DrivenRun,
  task: TaskSpec,
  issueTokens = true,
  options: TaskEnvironmentOptions = {},
): Promise<TaskEnvironment | string> {
  const taskEnv: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [name, value] of Object.entries(task.env)) {
    if (typeof value === "string") {
      taskEnv[name] = value;
      continue;
    }
    const what = `secret "${value.secret}" (for ${name})`;
    const resolved = isProvidedSecret(value.secret) ? await providedSecret(ctx, run, value.secret, what, issueTokens) : await readSecret(ctx, run, value.secret, what);
    if (typeof resolved === "string") return resolved;
    taskEnv[name] = resolved.value;
    if (resolved.value !== "") secrets.push(resolved.value);
  }
  // Resolved here, not by the executor, so a fork's run is refused it and its value is masked.
  let registryAuth: string | undefined;
  const pullSecret = task.container?.pullSecret;
  if (pullSecret) {
    const resolved = await readSecret(ctx, run, pullSecret, `pull secret "${pullSecret}"`);
    if (typeof resolved === "string") return resolved;
    registryAuth = resolved.value;
    secrets.push(resolved.value);
  }
  const env = composeTaskEnv({
    pipelineVariables: run.spec.variables,
    taskEnv,
    runVariables: run.variables,
    inputs: run.inputs,
    system: { namespace: run.key.namespace, pipelineId: run.key.id, run: run.key.run, taskId: task.id, apiUrl: ctx.apiUrl(), workspace: run.workspace },
  });
  // run() code (and autoApprove) gets them typed as ctx.inputs; the runner takes this out of the env.
  if (task.kind !== "container") env[INPUTS_ENV] = JSON.stringify(run.inputs);
  if (task.kind === "approval") env[TASK_RESULTS_ENV] = JSON.stringify(taskResults(run));
  if (!issueTokens) return { env, ...(registryAuth !== undefined && { registryAuth }), secrets };
  if (task.kind === "run" && ctx.tokens) {
    // One per run, limited to objects of its own pipeline; the runner takes it out of the env.
    // Its insert is not awaited: the task process starts while it commits, and the
    // database serialises in call order, so the task's first request already finds it.
    if (!run.objectsToken) {
      run.objectsToken = ctx.tokens.issue(run.key, "objects", "objects");
      run.tokenIds.push(run.objectsToken.id);
      run.objectsToken.stored.catch((error) => console.error(`run ${runKeyString(run.key)}: storing its objects token failed:`, error));
    }
    env[OBJECTS_TOKEN_ENV] = run.objectsToken.secret;
    secrets.push(run.objectsToken.secret);
  }
  if (options.bundleToken && task.kind !== "container") {
    if (!ctx.tokens?.issueBundle) return "this server cannot issue bundle tokens, which a runner that fetches its bundle needs";
    // One per run, for its bundle alone (a fork's run too: it is the run's own code); the runner
    // takes it out of the env. Awaited: the runner may start on another node at once.
    if (!run.bundleToken) {
      run.bundleToken = ctx.tokens.issueBundle(run.key);
      run.tokenIds.push(run.bundleToken.id);
    }
    const token = run.bundleToken;
    try {
      await token.stored;
    } catch (error) {
      // The next task asks for a new one.
      if (run.bundleToken === token) run.bundleToken = undefined;
      return `the run's bundle token could not be stored: ${(error as Error).message}`;
    }
    env[BUNDLE_TOKEN_ENV] = token.secret;
    secrets.push(token.secret);
  }
  // The API token acts with the pipeline's rights, which code from a fork must not get.
  if (task.injectApiToken && ctx.tokens && !run.noSecrets) {
    const token = ctx.tokens.issue(run.key, task.id);
    await token.stored;
    run.tokenIds.push(token.id);
    env.GANTRY_API_TOKEN = token.secret;
    secrets.push(token.secret);
  }
  return { env, ...(registryAuth !== undefined && { registryAuth }), secrets };
}
