// Run and task execution states and which of them are final.

/** `queued` waits for admission (a concurrency limit, the pause switch); `pending` is left by older versions. */
export const RUN_STATES = ["queued", "pending", "running", "successful", "failed", "cancelled"] as const;
export type RunState = (typeof RUN_STATES)[number];

/** `reused`: a re-run of failed tasks kept the successful execution of the original run. */
export const TASK_STATES = ["pending", "running", "successful", "failed", "skipped", "cancelled", "reused"] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** What one attempt of a task came to. */
export const ATTEMPT_STATES = ["running", "successful", "failed", "cancelled"] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

export function isFinalRunState(state: RunState): boolean {
  return state === "successful" || state === "failed" || state === "cancelled";
}

export function isFinalTaskState(state: TaskState): boolean {
  return state !== "pending" && state !== "running";
}

/** Successful, here or (reused) in the run a re-run came from. */
export function isSuccessfulTaskState(state: TaskState): boolean {
  return state === "successful" || state === "reused";
}
