// The pipeline page's table of how long each task took over the last finished runs, so a task
// that got slower stands out: its newest time is marked when it is well over its earlier median.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunWithTasks } from "../../../db/repos/runs.ts";
import { formatDuration } from "../../../domain/duration.ts";
import { TableHead } from "./table-head.tsx";

/** Finished runs the table shows, at most. */
const RUNS_SHOWN = 8;
/** A newest time this much over the task's earlier median, and by this much, is "slower". */
const SLOWER_RATIO = 1.5;
const SLOWER_BY_MS = 100;

export interface TaskDurationRow {
  task: string;
  /** Milliseconds per run (oldest first); undefined where it did not run (skipped, reused, not started). */
  durations: (number | undefined)[];
  /** The earlier median the newest time is well over, when it is. */
  slowerThan?: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** The rows for runs newest first (as the history lists them): the last finished ones, oldest first, tasks in their first run's order. */
export function taskDurations(runs: readonly RunWithTasks[]): { runs: number[]; rows: TaskDurationRow[] } {
  const finished = runs.filter((run) => run.endedAt !== null && run.state !== "queued" && run.state !== "running").slice(0, RUNS_SHOWN).reverse();
  const tasks = [...new Set(finished.flatMap((run) => run.tasks.map((task) => task.taskId)))];
  const rows = tasks.map((task) => {
    const durations = finished.map((run) => {
      const execution = run.tasks.find((candidate) => candidate.taskId === task);
      return execution?.startedAt && execution.endedAt && execution.state !== "reused" ? execution.endedAt.getTime() - execution.startedAt.getTime() : undefined;
    });
    const newest = durations.at(-1);
    const earlier = durations.slice(0, -1).filter((value): value is number => value !== undefined);
    const usual = earlier.length >= 2 ? median(earlier) : undefined;
    const slower = newest !== undefined && usual !== undefined && newest > usual * SLOWER_RATIO && newest - usual > SLOWER_BY_MS;
    return { task, durations, ...(slower && { slowerThan: usual }) };
  });
  return { runs: finished.map((run) => run.id), rows };
}

export function TaskDurations({ runs }: { runs: readonly RunWithTasks[] }) {
  const table = taskDurations(runs);
  if (table.runs.length < 2 || table.rows.length === 0) return null;
  return (
    <div class="task-durations">
      <h3 id="task-durations">Task durations</h3>
      <p class="hint">{`The last ${table.runs.length} finished runs, oldest on the left; ▲ marks a newest time well over the task's earlier median.`}</p>
      <div class="table-scroll">
        <table class="list durations" aria-labelledby="task-durations">
          <TableHead columns={["Task", ...table.runs.map((id) => ({ label: `#${id}`, class: "num" }))]} />
          <tbody>
            {table.rows.map((row) => (
              <tr class={row.slowerThan !== undefined ? "slower" : undefined}>
                <th scope="row" class="mono">
                  {row.task}
                </th>
                {row.durations.map((ms, index) =>
                  index === row.durations.length - 1 && row.slowerThan !== undefined ? (
                    <td class="num slower" title={`slower than its median of ${formatDuration(row.slowerThan)}`}>
                      <span aria-hidden="true">▲ </span>
                      {formatDuration(ms!)}
                      <span class="sr-only">{`, slower than its median of ${formatDuration(row.slowerThan)}`}</span>
                    </td>
                  ) : (
                    <td class="num">{ms === undefined ? <span class="muted">–</span> : formatDuration(ms)}</td>
                  ),
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
