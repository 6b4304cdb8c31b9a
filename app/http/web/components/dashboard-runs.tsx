// The dashboard's table of recent runs across pipelines: pipeline, run, state (a queued
// run's place and why it waits), task progress, trigger, when it started and how long it
// took (or has taken so far).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunSummary } from "../../../db/repos/run-summaries.ts";
import type { QueuePlace } from "../../../domain/admission.ts";
import { isFinalTaskState, TASK_STATES } from "../../../domain/states.ts";
import { pipelinePath, runPath } from "../paths.ts";
import { QueuePlaceNote } from "./queue-place.tsx";
import { StateBadge } from "./state-badge.tsx";
import { Took, When } from "./time.tsx";
import { TableHead } from "./table-head.tsx";
import { Trigger } from "./trigger.tsx";
import { runRowKeyString } from "../../../domain/run-key.ts";

export interface DashboardRun extends RunSummary {
  /** The pipeline's display name and description (from its current version). */
  pipelineName: string;
  pipelineDescription: string;
}

/** "3/5 done", with failures called out and a bar while the run is going. */
function TaskProgress({ run }: { run: DashboardRun }) {
  if (run.taskTotal === 0) return <span class="muted">no tasks</span>;
  const done = TASK_STATES.filter(isFinalTaskState).reduce((sum, state) => sum + (run.taskCounts[state] ?? 0), 0);
  const failed = run.taskCounts.failed ?? 0;
  const active = run.state === "running" || run.state === "pending";
  return (
    <span class="dash-progress">
      <span>
        {done}/{run.taskTotal} done
      </span>
      {failed > 0 && <span class="error"> · {failed} failed</span>}
      {active && <progress aria-hidden="true" max={run.taskTotal} value={done}></progress>}
    </span>
  );
}

export function DashboardRuns({ runs, places, now }: { runs: DashboardRun[]; places: Map<string, QueuePlace>; now: Date }) {
  return (
    <table class="list dash-runs" aria-labelledby="dash-runs-title">
      <TableHead
        columns={[
          "Pipeline",
          "Run",
          "State",
          { label: "Tasks", class: "wide-only" },
          { label: "Trigger", class: "wide-only" },
          { label: "Started", class: "wide-only" },
          { label: "Took", class: "num" },
        ]}
      />
      <tbody>
        {runs.map((run) => (
          // A stable id lets a live update morph this row in place (focus and all).
          <tr id={`dash-run/${run.namespace}/${run.pipelineId}/${run.id}`}>
            <td class="dash-pipeline">
              <a href={pipelinePath({ namespace: run.namespace, id: run.pipelineId })} title={run.pipelineDescription || undefined}>
                {run.namespace !== "default" && <span class="muted">{run.namespace}/</span>}
                {run.pipelineName}
              </a>
            </td>
            <td>
              <a href={runPath(run)} aria-label={`${run.pipelineName} run ${run.id}`}>
                #{run.id}
              </a>
            </td>
            <td class="dash-state">
              <StateBadge state={run.state} />
              {run.state === "queued" && <QueuePlaceNote place={places.get(runRowKeyString(run))} />}
            </td>
            <td class="wide-only">
              <TaskProgress run={run} />
            </td>
            <td class="wide-only">
              <Trigger trigger={run.trigger} />
            </td>
            <td class="wide-only">
              <When date={run.startedAt ?? run.createdAt} now={now} />
            </td>
            <td class="num">
              <Took start={run.startedAt} end={run.endedAt} now={now} />
              {/* On a phone the Started column gives way; the time shows under the duration. */}
              <span class="dash-narrow-only">
                <When date={run.startedAt ?? run.createdAt} now={now} />
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
