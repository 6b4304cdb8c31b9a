// The dashboard's "Waiting for you": approval gates the viewer may decide now, newest first,
// each with its message, who started the run and the deadline, linking to the gate on its run
// page. Absent when there is none, so a quiet dashboard stays quiet.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunActor, WaitingGate } from "../../../domain/approvals.ts";
import { runPath } from "../paths.ts";
import { gateSectionId } from "./run-tasks.tsx";
import { STATE_SYMBOL } from "../../../domain/states.ts";
import { Until, When } from "./time.tsx";

export interface WaitingForYou {
  namespace: string;
  pipelineId: string;
  /** The pipeline's display name. */
  pipelineName: string;
  runId: number;
  taskId: string;
  gate: WaitingGate;
  actor: RunActor | null;
}

export function DashboardWaiting({ gates, now }: { gates: WaitingForYou[]; now: Date }) {
  if (gates.length === 0) return null;
  return (
    <section class="card dash-waiting" aria-labelledby="dash-waiting-title">
      <h2 id="dash-waiting-title">
        <span aria-hidden="true">{`${STATE_SYMBOL.waiting} `}</span>
        Waiting for you <span class="dash-count">{`(${gates.length})`}</span>
      </h2>
      <ul class="dash-problems dash-gates">
        {gates.map((item) => {
          const run = { namespace: item.namespace, pipelineId: item.pipelineId, id: item.runId };
          return (
            <li class="dash-problem dash-gate">
              <a class="dash-problem-name" href={`${runPath(run)}#${gateSectionId(item.taskId)}`}>
                {item.namespace !== "default" && <span class="muted">{item.namespace}/</span>}
                {`${item.pipelineName} run ${item.runId}: `}
                <code>{item.taskId}</code>
              </a>
              {item.gate.message && <p class="dash-problem-detail dash-gate-message">{item.gate.message}</p>}
              <p class="dash-problem-detail dash-gate-facts muted">
                {item.actor ? `started by ${item.actor.name}, ` : ""}
                {"started waiting "}
                <When date={new Date(item.gate.waitingSince)} now={now} />
                {`; ${item.gate.onTimeout === "approve" ? "approved" : "rejected"} on its own `}
                <Until date={new Date(item.gate.decideBy)} now={now} />
              </p>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
