// Run and task execution states, which of them are final, and the phases a running task
// shows in their place (waiting to retry, waiting for a node, being stopped at its timeout).
import { formatDuration } from "./duration.ts";
import { WAITING_FOR_NODE } from "./placement.ts";

/** `queued` waits for admission (a concurrency limit, the pause switch); `pending` is left by older versions. */
export const RUN_STATES = ["queued", "pending", "running", "successful", "failed", "cancelled"] as const;
export type RunState = (typeof RUN_STATES)[number];

/**
 * `reused`: a re-run of failed tasks kept the successful execution of the original run.
 * `waiting`: an approval gate waits for a decision.
 */
export const TASK_STATES = ["pending", "running", "waiting", "successful", "failed", "skipped", "cancelled", "reused"] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** What one attempt of a task came to. */
export const ATTEMPT_STATES = ["running", "successful", "failed", "cancelled"] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

/** A symbol per state, so state never rests on colour alone (the web UI and the testing kit draw them). */
export const STATE_SYMBOL: Record<RunState | TaskState, string> = {
  queued: "⋯",
  pending: "○",
  running: "◔",
  // A pause sign that every font has (the emoji one may draw in colour, or not at all).
  waiting: "‖",
  successful: "✓",
  failed: "✗",
  skipped: "↷",
  cancelled: "■",
  reused: "↺",
};

export function isFinalRunState(state: RunState): boolean {
  return state === "successful" || state === "failed" || state === "cancelled";
}

export function isFinalTaskState(state: TaskState): boolean {
  return state !== "pending" && state !== "running" && state !== "waiting";
}

/** Successful, here or (reused) in the run a re-run came from. */
export function isSuccessfulTaskState(state: TaskState): boolean {
  return state === "successful" || state === "reused";
}

/** A task's final reason when it ran past its timeout. */
export function timedOutReason(timeoutMs: number): string {
  return `timed out after ${formatDuration(timeoutMs)}`;
}

/** How a timing-out reason ends. */
export const STOPPING = ", stopping";

/** Stored at once when a task runs past its timeout, while it is given its grace to stop. */
export function timingOutReason(timeoutMs: number): string {
  return `${timedOutReason(timeoutMs)}${STOPPING}`;
}

/** What a running task is doing besides running: waiting for its next attempt or for a cluster node to take it, or being stopped at its timeout. */
export type TaskPhase = "retrying" | "waiting for a node" | "timing out";

/**
 * A running task's phase, from what is stored: a retry time (set while it waits out its
 * retry delay), or its reason: a timing-out one, or why no cluster node has taken it yet.
 */
export function taskPhase(task: { state: string; reason?: string | null; retryAt?: Date | string | null }): TaskPhase | undefined {
  if (task.state !== "running") return undefined;
  if (task.retryAt) return "retrying";
  if (task.reason?.endsWith(STOPPING)) return "timing out";
  if (task.reason?.startsWith(WAITING_FOR_NODE)) return "waiting for a node";
  return undefined;
}
