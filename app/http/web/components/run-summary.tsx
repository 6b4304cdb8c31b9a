// The top of a run page: state (and "waiting for approval" while a gate holds it), reason,
// where a queued run stands, a pending cancel, the run it re-runs, trigger, version, times,
// inputs, variables, and the cancel and re-run buttons (for those who may).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunWithTasks } from "../../../db/repos/runs.ts";
import type { QueuePlace } from "../../../domain/admission.ts";
import { groupName } from "../../../domain/concurrency.ts";
import { formatDuration } from "../../../domain/duration.ts";
import { isFinalRunState, STATE_SYMBOL, type TaskState } from "../../../domain/states.ts";
import { CsrfField, type PageSession } from "../layouts/page.tsx";
import { runPath } from "../paths.ts";
import { RunInputs, RunVariables } from "./run-inputs.tsx";
import { gateSectionId } from "./run-tasks.tsx";
import { StateBadge } from "./state-badge.tsx";
import { Took, When } from "./time.tsx";
import { Trigger } from "./trigger.tsx";

/** Task states a "Re-run failed tasks" runs again (with everything downstream of them). */
const RERUNNABLE: readonly TaskState[] = ["failed", "skipped", "cancelled"];

/** A wait in the queue shorter than this is not worth a line. */
const NOTABLE_WAIT_MS = 1_000;

function RerunButton({ run, session, only, label, title }: { run: RunWithTasks; session: PageSession; only: "all" | "failed"; label: string; title: string }) {
  return (
    <form method="post" action={`${runPath(run)}/rerun`} class="inline">
      <CsrfField session={session} />
      <input type="hidden" name="only" value={only} />
      <button id={`run-rerun-${only}`} type="submit" class="secondary" title={title}>
        {label}
      </button>
    </form>
  );
}

function Actions({ run, session }: { run: RunWithTasks; session: PageSession }) {
  if (!isFinalRunState(run.state)) {
    // Asked once is enough: the state line says the cancel is on its way.
    if (run.cancelRequestedAt) return null;
    return (
      <div class="actions run-actions">
        <form method="post" action={`${runPath(run)}/cancel`} class="inline">
          <CsrfField session={session} />
          <button id="run-cancel" type="submit" class="danger" data-confirm={`Cancel run ${run.id}?`}>
            Cancel run
          </button>
        </form>
      </div>
    );
  }
  const failedSome = run.tasks.some((task) => RERUNNABLE.includes(task.state));
  return (
    <div class="actions run-actions">
      <RerunButton run={run} session={session} only="all" label="Re-run all" title={`Run every task again: version ${run.version}, the same variables`} />
      {failedSome && (
        <RerunButton
          run={run}
          session={session}
          only="failed"
          label="Re-run failed tasks"
          title="Run the failed, skipped and cancelled tasks again; successful ones are reused, with their files"
        />
      )}
    </div>
  );
}

/** A cancel asked for and not yet carried out (the driving node is stopping the tasks). */
function CancelRequested({ run, now }: { run: RunWithTasks; now: Date }) {
  if (!run.cancelRequestedAt || isFinalRunState(run.state)) return null;
  return (
    <span class="run-cancel-requested">
      <span aria-hidden="true">■ </span>
      {"cancel requested "}
      <When date={run.cancelRequestedAt} now={now} />
      {run.cancelReason && <span class="muted">{` (${run.cancelReason})`}</span>}
    </span>
  );
}

/** A run held by an approval gate says so beside its state, linking to the gate's panel. */
function WaitingForApproval({ run }: { run: RunWithTasks }) {
  const waiting = run.tasks.filter((task) => task.state === "waiting");
  if (waiting.length === 0) return null;
  return (
    <a class="run-waiting" href={`#${gateSectionId(waiting[0]!.taskId)}`}>
      <span aria-hidden="true">{`${STATE_SYMBOL.waiting} `}</span>
      {"waiting for approval"}
      {waiting.length > 1 && ` (${waiting.length} gates)`}
    </a>
  );
}

function QueueLine({ place }: { place: QueuePlace | undefined }) {
  if (!place) return null;
  return (
    <p class="run-queue-line">
      <strong>{`Position ${place.position} in the queue`}</strong>
      <span aria-hidden="true"> · </span>
      <span class="sr-only">: </span>
      {place.waitingFor}
    </p>
  );
}

export interface RunSummaryProps {
  run: RunWithTasks;
  now: Date;
  session: PageSession;
  /** Whether the viewer may cancel and re-run (runs:write). */
  canWrite: boolean;
  /** Where the run stands while it is queued. */
  queuePlace?: QueuePlace;
  /** Why the last re-run asked for was refused (e.g. the workspace was pruned). */
  rerunError?: string;
}

export function RunSummary({ run, now, session, canWrite, queuePlace, rerunError }: RunSummaryProps) {
  const group = groupName(run.concurrencyKey);
  const waited = run.queuedAt && run.startedAt ? run.startedAt.getTime() - run.queuedAt.getTime() : 0;
  return (
    <div class="card run-summary">
      <div class="run-state-line">
        <StateBadge state={run.state} />
        <WaitingForApproval run={run} />
        {run.reason && <span class="run-reason">{run.reason}</span>}
        <CancelRequested run={run} now={now} />
        {canWrite && <Actions run={run} session={session} />}
      </div>
      {run.state === "queued" && <QueueLine place={queuePlace} />}
      {rerunError && (
        <p class="notice problem" role="alert" id="rerun-error">
          {`Could not re-run: ${rerunError}.`}
        </p>
      )}
      <dl class="facts run-facts">
        <dt>Trigger</dt>
        <dd>
          <Trigger trigger={run.trigger} />
        </dd>
        {run.rerunOf !== null && (
          <>
            <dt>Re-run of</dt>
            <dd class="run-rerun-of">
              <a href={runPath({ namespace: run.namespace, pipelineId: run.pipelineId, id: run.rerunOf })}>{`run ${run.rerunOf}`}</a>
              {run.rerunOnly === "failed" ? ": only its failed tasks (successful ones reused)" : ": all tasks"}
            </dd>
          </>
        )}
        <dt>Version</dt>
        <dd>{`v${run.version}`}</dd>
        {group !== undefined && (
          <>
            <dt>Group</dt>
            <dd class="mono">{group}</dd>
          </>
        )}
        {run.state === "queued" ? (
          <>
            <dt>Queued</dt>
            <dd>
              <When date={run.queuedAt ?? run.createdAt} now={now} />
            </dd>
          </>
        ) : (
          <>
            <dt>Started</dt>
            <dd>
              <When date={run.startedAt} now={now} />
              {waited >= NOTABLE_WAIT_MS && <span class="muted">{` after ${formatDuration(waited)} in the queue`}</span>}
            </dd>
          </>
        )}
        <dt>Took</dt>
        <dd>
          <Took start={run.startedAt} end={run.endedAt} now={now} />
        </dd>
      </dl>
      <RunInputs inputs={run.inputs} />
      <RunVariables variables={run.variables} />
    </div>
  );
}
