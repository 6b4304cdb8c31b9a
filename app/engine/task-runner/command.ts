// How to start the task runner: from source it is its own file; inside the compiled
// binary the binary re-executes itself with a hidden command.

const compiled = import.meta.url.includes("$bunfs") || import.meta.path.startsWith("/$bunfs");

export const TASK_RUNNER_COMMAND = "__task-runner";

export function taskRunnerCommand(): string[] {
  if (compiled) return [process.execPath, TASK_RUNNER_COMMAND];
  return [process.execPath, new URL("./main.ts", import.meta.url).pathname];
}
