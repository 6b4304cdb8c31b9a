// One row of the event log: time, kind, where it happened (links to the pipeline and run)
// and a short, truncated summary of its data (the full JSON in its title). Rendered by the page and by its live tail.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { EventRow as EventRecord } from "../../../db/repos/events.ts";
import { pipelinePath, runPath } from "../paths.ts";
import { taskSectionId } from "./run-tasks.tsx";
import { truncate } from "./text.ts";
import { When } from "./time.tsx";

const SUMMARY_CHARS = 160;
const TITLE_CHARS = 2000;

/** "state: failed · exitCode: 1": the data's fields, strings bare, empty ones left out. */
export function summarize(data: Record<string, unknown>): string {
  return Object.entries(data)
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" · ");
}

function Where({ event }: { event: EventRecord }) {
  if (!event.namespace || !event.pipelineId) return <span class="muted">server</span>;
  const pipeline = pipelinePath({ namespace: event.namespace, id: event.pipelineId });
  const run = event.runId !== null ? runPath({ namespace: event.namespace, pipelineId: event.pipelineId, id: event.runId }) : undefined;
  return (
    <span class="event-where">
      <a href={pipeline}>
        {event.namespace}/{event.pipelineId}
      </a>
      {run && (
        <>
          {" "}
          <a href={run}>#{event.runId}</a>
        </>
      )}
      {event.taskId && (
        <>
          {" "}
          {run ? (
            <a href={`${run}#${encodeURIComponent(taskSectionId(event.taskId))}`} class="mono">
              {event.taskId}
            </a>
          ) : (
            <span class="mono">{event.taskId}</span>
          )}
        </>
      )}
    </span>
  );
}

export function EventRow({ event, now }: { event: EventRecord; now: Date }) {
  const summary = summarize(event.data);
  return (
    <tr id={`event-${event.id}`}>
      <td class="admin-nowrap">
        <When date={event.at} now={now} />
      </td>
      <td>
        <span class={`event-kind event-kind-${event.kind.split(".")[0]}`}>{event.kind}</span>
      </td>
      <td>
        <Where event={event} />
      </td>
      <td class="event-data">{summary ? <code title={truncate(JSON.stringify(event.data), TITLE_CHARS)}>{truncate(summary, SUMMARY_CHARS)}</code> : <span class="muted">—</span>}</td>
    </tr>
  );
}
