// What the server hands a runner beside the task's environment: the run's inputs (typed,
// for ctx.inputs) and, for an approval's autoApprove, how earlier tasks ended. Both travel
// as JSON in variables the runner takes out of the environment before pipeline code runs.

export const INPUTS_ENV = "GANTRY_RUN_INPUTS";
export const TASK_RESULTS_ENV = "GANTRY_TASK_RESULTS";

/** An autoApprove that returned false (or nothing): the gate waits for a person. */
export const AUTO_APPROVE_DECLINED = 3;

/** Takes a JSON variable out of the environment; an unreadable one is treated as empty. */
export function takeJsonEnv<T>(name: string, fallback: T): T {
  const text = process.env[name];
  delete process.env[name];
  if (text === undefined) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
