// A run's task executions: the table of all of them (with each retried task's attempts under
// it), and one task's status line (state or phase, attempt, exit code, reason, duration, when
// it retries, the run a reused task comes from) as it shows beside its log.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ExecutionRow, ExecutionWithAttempts } from "../../../db/repos/runs.ts";
import { runPath, type RunRef } from "../paths.ts";
import { taskPhase } from "../../../domain/states.ts";
import { AttemptList, RetryNote, retryDue, showsAttempts } from "./run-attempts.tsx";
import { StateBadge } from "./state-badge.tsx";
import { Took } from "./time.tsx";
import { TableHead } from "./table-head.tsx";

/** The id of a task's log section, which the DAG and the table link to. */
export const taskSectionId = (taskId: string) => `task-${taskId}`;

/** The id of an approval task's panel (its message, deadline and the decide form). */
export const gateSectionId = (taskId: string) => `gate-${taskId}`;

function ExitCode({ code }: { code: number | null }) {
  if (code === null) return <span class="muted">—</span>;
  return <span class={code === 0 ? "exit-code" : "exit-code nonzero"}>{code}</span>;
}

/** Where a reused task ran: its section on the page of the run it comes from. */
export function ReusedFrom({ execution, run }: { execution: ExecutionRow; run: RunRef }) {
  if (execution.reusedFrom === null) return null;
  const href = `${runPath({ namespace: run.namespace, pipelineId: run.pipelineId, id: execution.reusedFrom })}#${taskSectionId(execution.taskId)}`;
  return (
    <span class="task-reused-from">
      {"reused from "}
      <a href={href}>{`run ${execution.reusedFrom}`}</a>
    </span>
  );
}

/** State, attempt, exit code, reason and duration on one wrapping line. */
export function TaskStatus({ execution, run, now }: { execution: ExecutionRow; run: RunRef; now: Date }) {
  const due = retryDue(execution);
  return (
    <>
      <StateBadge state={execution.state} phase={taskPhase(execution)} />
      {due && (
        <span class="task-fact">
          <RetryNote at={due} now={now} />
        </span>
      )}
      <ReusedFrom execution={execution} run={run} />
      {execution.attempt > 1 && <span class="task-fact">attempt {execution.attempt}</span>}
      {execution.exitCode !== null && (
        <span class="task-fact">
          exit code <ExitCode code={execution.exitCode} />
        </span>
      )}
      {execution.startedAt && (
        <span class="task-fact">
          <Took start={execution.startedAt} end={execution.endedAt} now={now} />
        </span>
      )}
      {execution.reason && <span class="task-reason">{execution.reason}</span>}
    </>
  );
}

/** The status line beside a task's log; the live view replaces it out of band by its id. */
export function TaskStatusLine({ execution, run, now, oob }: { execution: ExecutionRow; run: RunRef; now: Date; oob?: boolean }) {
  return (
    <p id={`status-${execution.taskId}`} class={`task-status task-status-${execution.state}`} hx-swap-oob={oob ? "true" : undefined}>
      <TaskStatus execution={execution} run={run} now={now} />
    </p>
  );
}

const COLUMNS = 7;

const KIND_TEXT: Record<ExecutionRow["kind"], string> = { run: "run()", container: "container", approval: "approval" };

export interface TaskTableProps {
  run: RunRef;
  tasks: ExecutionWithAttempts[];
  /** Whether the viewer may read logs (attempts link their part of the log). */
  logs: boolean;
  now: Date;
}

export function TaskTable({ run, tasks, logs, now }: TaskTableProps) {
  return (
    <div class="card table-card">
      <table class="list run-tasks">
        <caption class="sr-only">Tasks of this run</caption>
        <TableHead
          columns={[
            "Task",
            { label: "Kind", class: "wide-only" },
            "State",
            { label: "Attempt", class: "num wide-only" },
            { label: "Exit", class: "num" },
            "Reason",
            { label: "Took", class: "num" },
          ]}
        />
        <tbody>
          {tasks.map((task) => (
            <>
              <tr class={showsAttempts(task) ? "has-attempts" : undefined}>
                <th scope="row">
                  <a id={`task-link-${task.taskId}`} href={`#${taskSectionId(task.taskId)}`}>
                    {task.taskId}
                  </a>
                </th>
                <td class="wide-only">{KIND_TEXT[task.kind]}</td>
                <td>
                  <StateBadge state={task.state} phase={taskPhase(task)} />
                </td>
                <td class="num wide-only">{task.attempt}</td>
                <td class="num">
                  <ExitCode code={task.exitCode} />
                </td>
                <td class="task-reason-cell">
                  {task.reusedFrom !== null ? (
                    <ReusedFrom execution={task} run={run} />
                  ) : retryDue(task) ? (
                    <RetryNote at={retryDue(task)!} now={now} />
                  ) : task.state === "waiting" ? (
                    <a class="task-waiting" href={`#${gateSectionId(task.taskId)}`}>
                      waiting for approval
                    </a>
                  ) : (
                    (task.reason ?? <span class="muted">—</span>)
                  )}
                </td>
                <td class="num">
                  <Took start={task.startedAt} end={task.endedAt} now={now} />
                </td>
              </tr>
              {showsAttempts(task) && (
                <tr class="task-attempts">
                  <td colspan={COLUMNS}>
                    <AttemptList execution={task} run={run} logs={logs} now={now} />
                  </td>
                </tr>
              )}
            </>
          ))}
        </tbody>
      </table>
    </div>
  );
}
