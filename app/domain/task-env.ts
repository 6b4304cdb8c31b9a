// The layers of a task's environment, in the order that decides who wins: the pipeline's
// variables, the task's env (its secrets resolved), the run's variables, the inputs as
// INPUT_<NAME>, and the system's GANTRY_* values last (a pipeline cannot override them).
// Pure: the engine and the testing kit (gantry/testing) compose environments alike.
import { ORIGIN_RUN_VARIABLE } from "./ids.ts";
import { inputsEnv, type InputValues } from "./run-inputs.ts";

/** Why a task of a run from a fork's pull request (`noSecrets`) that references a secret fails. */
export const SECRETS_WITHHELD_REASON = "secrets are withheld from runs triggered by pull requests from forks";

export interface SystemVariables {
  namespace: string;
  pipelineId: string;
  run: number;
  taskId: string;
  apiUrl: string;
  workspace: string;
}

export interface TaskEnvLayers {
  pipelineVariables: Readonly<Record<string, string>>;
  /** The task's own env, each secret already replaced by its value. */
  taskEnv: Readonly<Record<string, string>>;
  runVariables: Readonly<Record<string, string>>;
  inputs: InputValues;
  system: SystemVariables;
}

/**
 * The environment a task gets.
 * @example composeTaskEnv({ pipelineVariables: { A: "1" }, taskEnv: {}, runVariables: { A: "2" }, inputs: {}, system }).A // "2"
 */
export function composeTaskEnv(layers: TaskEnvLayers): Record<string, string> {
  const { system } = layers;
  const env: Record<string, string> = { ...layers.pipelineVariables, ...layers.taskEnv, ...layers.runVariables };
  // Inputs over variables of the same name: they were checked, variables were not.
  Object.assign(env, inputsEnv(layers.inputs));
  env.GANTRY_NAMESPACE = system.namespace;
  env.GANTRY_PIPELINE_ID = system.pipelineId;
  env.GANTRY_RUN_ID = String(system.run);
  // A re-run's tasks are told which run they re-run (its variables carry it); others their own.
  env[ORIGIN_RUN_VARIABLE] = layers.runVariables[ORIGIN_RUN_VARIABLE] ?? String(system.run);
  env.GANTRY_TASK_ID = system.taskId;
  env.GANTRY_API_URL = system.apiUrl;
  env.GANTRY_WORKSPACE = system.workspace;
  return env;
}
