// The top of a run page: state, reason, trigger, version, times, variables, and the
// cancel and re-run buttons (for those who may).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunWithTasks } from "../../../db/repos/runs.ts";
import { isFinalRunState } from "../../../domain/states.ts";
import { CsrfField, type PageSession } from "../layouts/page.tsx";
import { runPath } from "../paths.ts";
import { StateBadge } from "./state-badge.tsx";
import { Took, When } from "./time.tsx";
import { TableHead } from "./table-head.tsx";
import { Trigger } from "./trigger.tsx";

function Variables({ variables }: { variables: Record<string, string> }) {
  const entries = Object.entries(variables).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <p class="muted run-no-variables">No run variables.</p>;
  return (
    <table class="list run-variables">
      <caption>Variables</caption>
      <TableHead columns={["Name", "Value"]} />
      <tbody>
        {entries.map(([name, value]) => (
          <tr>
            <th scope="row" class="mono">
              {name}
            </th>
            <td class="mono variable-value">{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Actions({ run, session }: { run: RunWithTasks; session: PageSession }) {
  const path = runPath(run);
  return (
    <div class="actions run-actions">
      {!isFinalRunState(run.state) && (
        <form method="post" action={`${path}/cancel`} class="inline">
          <CsrfField session={session} />
          <button id="run-cancel" type="submit" class="danger" data-confirm={`Cancel run ${run.id}?`}>
            Cancel run
          </button>
        </form>
      )}
      <form method="post" action={`${path}/rerun`} class="inline">
        <CsrfField session={session} />
        <button id="run-rerun" type="submit" class="secondary" title="Start a new run of the current version with the same variables">
          Re-run
        </button>
      </form>
    </div>
  );
}

export interface RunSummaryProps {
  run: RunWithTasks;
  now: Date;
  session: PageSession;
  /** Whether the viewer may cancel and re-run (runs:write). */
  canWrite: boolean;
}

export function RunSummary({ run, now, session, canWrite }: RunSummaryProps) {
  return (
    <div class="card run-summary">
      <div class="run-state-line">
        <StateBadge state={run.state} />
        {run.reason && <span class="run-reason">{run.reason}</span>}
        {canWrite && <Actions run={run} session={session} />}
      </div>
      <dl class="facts run-facts">
        <dt>Trigger</dt>
        <dd>
          <Trigger trigger={run.trigger} />
        </dd>
        <dt>Version</dt>
        <dd>{`v${run.version}`}</dd>
        <dt>Started</dt>
        <dd>
          <When date={run.startedAt} now={now} />
        </dd>
        <dt>Took</dt>
        <dd>
          <Took start={run.startedAt} end={run.endedAt} now={now} />
        </dd>
      </dl>
      <Variables variables={run.variables} />
    </div>
  );
}
