// The live part of a run page: summary, approval gates, DAG and task table (re-rendered whole
// on every change), and the out-of-band pieces a live update also carries for the log sections.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ExecutionRow, RunWithTasks } from "../../../db/repos/runs.ts";
import { formatDuration } from "../../../domain/duration.ts";
import type { TaskSpec } from "../../../domain/pipeline-spec.ts";
import { taskPhase } from "../../../domain/states.ts";
import type { Decider } from "../../../domain/approvals.ts";
import { ApprovalGates } from "./approval-gate.tsx";
import { DagGraph, type DagNode } from "./dag-graph.tsx";
import { emptyLogText, LogEmpty } from "./log-view.tsx";
import { RunSummary, type RunSummaryProps } from "./run-summary.tsx";
import { TaskStatusLine, TaskTable, taskSectionId } from "./run-tasks.tsx";
import { elapsed } from "./time.tsx";
import { RunTimelineChart, timelineOf } from "./run-timeline.tsx";

export type SpecTask = Pick<TaskSpec, "id" | "kind" | "needs">;

function nodeDetail(execution: ExecutionRow | undefined, now: Date): string | undefined {
  if (!execution) return undefined;
  const ms = elapsed(execution.startedAt, execution.endedAt, now);
  if (ms === undefined) return undefined;
  if (execution.state === "failed" && execution.exitCode !== null) return `exit ${execution.exitCode}`;
  return formatDuration(ms);
}

/** The DAG's nodes: edges from the run's pipeline version, states from its executions. */
export function dagNodes(specTasks: SpecTask[], executions: ExecutionRow[], now: Date): DagNode[] {
  const byId = new Map(executions.map((execution) => [execution.taskId, execution]));
  // Without its version (never expected) the executions still draw, unconnected.
  const tasks = specTasks.length > 0 ? specTasks : executions.map((execution) => ({ id: execution.taskId, kind: execution.kind, needs: {} }));
  return tasks.map((task) => {
    const execution = byId.get(task.id);
    const detail = nodeDetail(execution, now);
    return { id: task.id, kind: task.kind, needs: task.needs, ...(execution && { state: execution.state }), ...(detail && { detail }) };
  });
}

/** What screen readers hear when states change: the run's and each task's. */
export function announcement(run: RunWithTasks): string {
  return `Run ${run.id} ${run.state}. ${run.tasks.map((task) => `${task.taskId} ${taskPhase(task) ?? task.state}`).join(", ")}.`;
}

export interface RunLiveProps extends RunSummaryProps {
  specTasks: SpecTask[];
  /** Whether the viewer may read logs (attempts then link their part of the log). */
  readsLogs: boolean;
  /** The viewer as a decider of this run's approval gates (the form, or why not). */
  decider?: Decider | undefined;
  /** Whether the viewer may open a shell in the run's running container tasks (runs:exec). */
  canExec?: boolean;
}

/** For holders of runs:exec: the command that opens a shell in each running container task. */
function ShellHint({ run }: { run: RunWithTasks }) {
  const running = run.tasks.filter((task) => task.kind === "container" && task.state === "running");
  if (running.length === 0) return null;
  return (
    <p class="hint shell-hint">
      {"A shell in a running container task: "}
      {running.map((task, index) => (
        <>
          {index > 0 && ", "}
          <code>{`gantry run exec ${run.namespace}/${run.pipelineId} ${run.id} ${task.taskId}`}</code>
        </>
      ))}
      {" (add -- and a command to run one instead)."}
    </p>
  );
}

export function RunLive(props: RunLiveProps) {
  const { run, now, specTasks } = props;
  return (
    <>
      <RunSummary {...props} />
      <ApprovalGates run={run} now={now} session={props.session} decider={props.decider} />
      <section class="card run-dag" aria-labelledby="run-dag-title">
        <h2 id="run-dag-title">Graph</h2>
        <DagGraph
          tasks={dagNodes(specTasks, run.tasks, now)}
          label={`Tasks of run ${run.id} of ${run.namespace}/${run.pipelineId} and their states`}
          href={(taskId) => `#${taskSectionId(taskId)}`}
        />
      </section>
      <section class="card run-timeline" aria-labelledby="run-timeline-title">
        <h2 id="run-timeline-title">Timeline</h2>
        <RunTimelineChart
          timeline={timelineOf(run, specTasks, now)}
          label={`Timeline of run ${run.id} of ${run.namespace}/${run.pipelineId}: each task's waits and attempts over time`}
          href={(taskId) => `#${taskSectionId(taskId)}`}
        />
      </section>
      <h2 class="run-tasks-title">Tasks</h2>
      <TaskTable run={run} tasks={run.tasks} logs={props.readsLogs} now={now} />
      {props.canExec && <ShellHint run={run} />}
    </>
  );
}

export interface RunLiveUpdatesProps {
  run: RunWithTasks;
  now: Date;
  /** Whether the page shows log sections (logs:read): their status lines and empty-pane texts are updated too. */
  logs: boolean;
  /** New text for the polite live region, when it changed. */
  announce?: string;
}

/** Out-of-band swaps sent with each live update; htmx puts each where its id is. */
export function RunLiveUpdates({ run, now, logs, announce }: RunLiveUpdatesProps) {
  return (
    <>
      {logs &&
        run.tasks.map((execution) => (
          <>
            <TaskStatusLine execution={execution} run={run} now={now} oob />
            <LogEmpty taskId={execution.taskId} text={emptyLogText(execution)} oob />
          </>
        ))}
      {announce !== undefined && (
        <p id="run-announce" hx-swap-oob="innerHTML">
          {announce}
        </p>
      )}
    </>
  );
}
