// A task's attempts, each with its state, exit code, reason, start, duration and a link to
// its part of the log, and when the next one starts while it waits to retry: shown under the
// task in the run's task table when a task was retried (or its one attempt failed with a
// reason worth a closer look).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { AttemptRow, ExecutionWithAttempts } from "../../../db/repos/runs.ts";
import { clockTime, retryCountdown } from "../../../domain/retry-delay.ts";
import { taskPhase } from "../../../domain/states.ts";
import { attemptLogPath, type RunRef } from "../paths.ts";
import { StateBadge } from "./state-badge.tsx";
import { Took, When } from "./time.tsx";

/** "retrying at 14:03:05 (in 4s)": when a task waiting out its retry delay starts its next attempt. */
export function RetryNote({ at, now }: { at: Date; now: Date }) {
  return (
    <span class="task-retry">
      {"retrying at "}
      <time datetime={at.toISOString()} title={at.toISOString()}>
        {clockTime(at)}
      </time>
      {` (${retryCountdown(at, now)})`}
    </span>
  );
}

/** When a task waits to retry, the time its next attempt is due. */
export function retryDue(execution: { state: string; retryAt: Date | null }): Date | undefined {
  return taskPhase(execution) === "retrying" ? execution.retryAt! : undefined;
}

/** Whether a task's attempts say more than its row does. */
export function showsAttempts(execution: ExecutionWithAttempts): boolean {
  const [first, ...more] = execution.attempts;
  return more.length > 0 || (first?.state === "failed" && first.reason !== null);
}

function Attempt({ attempt, taskId, run, logs, now }: { attempt: AttemptRow; taskId: string; run: RunRef; logs: boolean; now: Date }) {
  return (
    <li class={`attempt attempt-${attempt.state}`} id={`attempt-${taskId}-${attempt.attempt}`}>
      <span class="attempt-n">{`Attempt ${attempt.attempt}`}</span>
      <StateBadge state={attempt.state} phase={taskPhase(attempt)} />
      {attempt.exitCode !== null && (
        <span class="task-fact">
          {"exit code "}
          <span class={attempt.exitCode === 0 ? "exit-code" : "exit-code nonzero"}>{attempt.exitCode}</span>
        </span>
      )}
      <span class="task-fact">
        {"started "}
        <When date={attempt.startedAt} now={now} />
      </span>
      <span class="task-fact">
        {"took "}
        <Took start={attempt.startedAt} end={attempt.endedAt} now={now} />
      </span>
      {logs && (
        <a class="attempt-log" href={attemptLogPath(run, taskId, attempt.attempt)}>
          Log<span class="sr-only">{` of attempt ${attempt.attempt} of ${taskId}`}</span>
        </a>
      )}
      {attempt.reason && <span class="attempt-reason">{attempt.reason}</span>}
    </li>
  );
}

export interface AttemptListProps {
  execution: ExecutionWithAttempts;
  run: RunRef;
  /** Whether the viewer may read logs (each attempt links its part). */
  logs: boolean;
  now: Date;
}

export function AttemptList({ execution, run, logs, now }: AttemptListProps) {
  const due = retryDue(execution);
  return (
    <ol class="attempts" aria-label={`Attempts of ${execution.taskId}`}>
      {execution.attempts.map((attempt) => (
        <Attempt attempt={attempt} taskId={execution.taskId} run={run} logs={logs} now={now} />
      ))}
      {due && (
        <li class="attempt attempt-next" id={`attempt-${execution.taskId}-next`}>
          <span class="attempt-n">{`Attempt ${execution.attempt + 1}`}</span>
          <RetryNote at={due} now={now} />
        </li>
      )}
    </ol>
  );
}
