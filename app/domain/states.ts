// Run and task execution states and which of them are final.

export const RUN_STATES = ["pending", "running", "successful", "failed", "cancelled"] as const;
export type RunState = (typeof RUN_STATES)[number];

export const TASK_STATES = ["pending", "running", "successful", "failed", "skipped", "cancelled"] as const;
export type TaskState = (typeof TASK_STATES)[number];

export function isFinalRunState(state: RunState): boolean {
  return state === "successful" || state === "failed" || state === "cancelled";
}

export function isFinalTaskState(state: TaskState): boolean {
  return state !== "pending" && state !== "running";
}
