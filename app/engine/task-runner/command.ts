// How to start the task runner (from source it is its own file; inside the compiled
// binary the binary re-executes itself with a hidden command) and how it is told to go.

const compiled = import.meta.url.includes("$bunfs") || import.meta.path.startsWith("/$bunfs");

export const TASK_RUNNER_COMMAND = "__task-runner";

/** What the server writes on a gated runner's stdin to let the task's function run. */
export const GO = "go";
/** A gated runner's exit code when it was told not to run the task. */
export const TASK_RUNNER_NOT_STARTED = 75;

export function taskRunnerCommand(): string[] {
  if (compiled) return [process.execPath, TASK_RUNNER_COMMAND];
  return [process.execPath, new URL("./main.ts", import.meta.url).pathname];
}
