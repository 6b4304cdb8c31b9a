// How a run() task tells its timeout from a cancel: both arrive as SIGTERM, so the engine
// passes the attempt's deadline in the runner's environment (taken out before the task's
// code runs), and a SIGTERM at or past it aborts ctx.signal with a TimeoutError.
import { timedOutReason } from "../../domain/states.ts";

/** Carries "<deadline epoch ms> <timeout ms>" to the runner. */
export const DEADLINE_ENV = "GANTRY_TASK_DEADLINE";

/** A SIGTERM this close before the deadline is the timeout's: the server's timer and the runner's clock may differ by a few ms. */
const SLACK_MS = 250;

export function deadlineEnv(deadline: number, timeoutMs: number): string {
  return `${deadline} ${timeoutMs}`;
}

/** The reason ctx.signal aborts with on SIGTERM at `now`: a TimeoutError past the deadline, "task cancelled" otherwise. */
export function abortReason(deadline: string | undefined, now: number): Error {
  const [at, timeoutMs] = (deadline ?? "").split(" ").map(Number);
  if (at !== undefined && timeoutMs !== undefined && Number.isFinite(at) && Number.isFinite(timeoutMs) && now >= at - SLACK_MS) {
    // The same kind of reason AbortSignal.timeout() gives, so `reason.name === "TimeoutError"` works as authors expect.
    return new DOMException(timedOutReason(timeoutMs), "TimeoutError");
  }
  return new Error("task cancelled");
}
