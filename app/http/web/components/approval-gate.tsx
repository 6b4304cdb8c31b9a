// An approval task's panel on the run page: while it waits, its message, who may decide,
// who started the run and the deadline, then Approve and Reject with a comment for a viewer
// who may decide (and why not, for one who may not); once decided, who, when and why.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ExecutionRow, RunWithTasks } from "../../../db/repos/runs.ts";
import { decisionRefusal, MAX_DECISION_COMMENT, type Decider, type GateDecision, type RunActor, type WaitingGate } from "../../../domain/approvals.ts";
import { formatDuration } from "../../../domain/duration.ts";
import { CsrfField, type PageSession } from "../layouts/page.tsx";
import { decidePath, type RunRef } from "../paths.ts";
import { gateSectionId } from "./run-tasks.tsx";
import { STATE_SYMBOL } from "../../../domain/states.ts";
import { Until, When } from "./time.tsx";

/** An approval task with its gate: waiting now, or decided (or ended otherwise) after waiting. */
type GateExecution = ExecutionRow & { gate: WaitingGate };

/** Approval tasks that have waited or wait now, in the run's order: the ones the page shows a panel for. */
export function gatesOf(run: RunWithTasks): GateExecution[] {
  return run.tasks.filter((task): task is typeof task & { gate: WaitingGate } => task.kind === "approval" && task.gate !== null);
}

/** "anyone with runs:approve on this pipeline, except whoever started the run", or the roles that may. */
export function whoMayDecide(gate: WaitingGate): string {
  const roles =
    gate.approvers.length === 0
      ? "anyone with runs:approve on this pipeline"
      : `holders of the role${gate.approvers.length > 1 ? "s" : ""} ${gate.approvers.join(", ")} (with runs:approve on this pipeline)`;
  return gate.allowSelfApproval ? `${roles}, whoever started the run included` : `${roles}, except whoever started the run`;
}

/** The decision in words: "Approved by alice", "Rejected: nobody decided within 24h", "Approved by autoApprove". */
export function decisionHeadline(decision: GateDecision, gate: WaitingGate): string {
  const verb = decision.outcome === "approved" ? "Approved" : "Rejected";
  if (decision.auto === "timeout") return `${verb}: nobody decided within ${formatDuration(gate.timeoutMs)} (onTimeout: "${gate.onTimeout}")`;
  if (decision.auto === "autoApprove") return `${verb} at once by autoApprove`;
  return `${verb} by ${decision.by}`;
}

function DecideForm({ run, taskId, session }: { run: RunRef; taskId: string; session: PageSession }) {
  const id = `decide-${taskId}`;
  return (
    // hx-preserve: the live region re-renders every few seconds; a comment being typed must
    // survive that. Once the gate is decided the new render has no such form, and it goes.
    <form method="post" action={decidePath(run, taskId, "approve")} id={id} class="gate-decide" hx-preserve="true">
      <CsrfField session={session} />
      <label for={`${id}-comment`}>
        Comment <span class="muted">(optional, kept with the decision)</span>
      </label>
      <textarea id={`${id}-comment`} name="comment" rows={2} maxlength={MAX_DECISION_COMMENT}></textarea>
      <div class="actions">
        <button type="submit" id={`${id}-approve`} class="gate-approve">
          <span aria-hidden="true">✓ </span>Approve
        </button>
        <button type="submit" id={`${id}-reject`} class="danger" formaction={decidePath(run, taskId, "reject")}>
          <span aria-hidden="true">✗ </span>Reject
        </button>
      </div>
    </form>
  );
}

function Starter({ actor }: { actor: RunActor | null }) {
  if (!actor) return <span class="muted">not recorded</span>;
  return <>{actor.name}</>;
}

function WaitingPanel({ run, execution, now, session, decider }: GateProps) {
  const { gate, taskId } = execution;
  const id = gateSectionId(taskId);
  const refusal = decider && decisionRefusal(gate, run.actor, decider);
  return (
    <section id={id} class="card gate gate-waiting" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>
        <span aria-hidden="true">{STATE_SYMBOL.waiting} </span>
        {"Waiting for approval: "}
        <code>{taskId}</code>
      </h2>
      {gate.message && <p class="gate-message">{gate.message}</p>}
      <dl class="facts gate-facts">
        <dt>Who may decide</dt>
        <dd>{whoMayDecide(gate)}</dd>
        <dt>Run started by</dt>
        <dd>
          <Starter actor={run.actor} />
        </dd>
        <dt>Started waiting</dt>
        <dd>
          <When date={new Date(gate.waitingSince)} now={now} />
        </dd>
        <dt>Decide by</dt>
        <dd>
          <Until date={new Date(gate.decideBy)} now={now} />
          <span class="muted">{`, then it is ${gate.onTimeout === "approve" ? "approved" : "rejected"} on its own`}</span>
        </dd>
        {gate.autoApproveNote && (
          <>
            <dt>autoApprove</dt>
            <dd>{gate.autoApproveNote}</dd>
          </>
        )}
      </dl>
      {decider &&
        (refusal === undefined ? (
          <DecideForm run={run} taskId={taskId} session={session} />
        ) : (
          <p class="notice gate-refusal" id={`${id}-refusal`}>
            {`You cannot decide this approval: ${refusal}.`}
          </p>
        ))}
    </section>
  );
}

function DecidedPanel({ execution, now }: Pick<GateProps, "execution" | "now">) {
  const { gate, decision, taskId } = execution;
  const id = gateSectionId(taskId);
  // Ended without a decision: the run was cancelled (or failed) while the gate waited.
  if (!decision) {
    return (
      <section id={id} class="card gate gate-ended" aria-labelledby={`${id}-title`}>
        <h2 id={`${id}-title`}>
          {"Approval "}
          <code>{taskId}</code>
          {`: ${execution.state}, not decided`}
        </h2>
        {execution.reason && <p class="gate-decision">{execution.reason}</p>}
      </section>
    );
  }
  const approved = decision.outcome === "approved";
  return (
    <section id={id} class={`card gate ${approved ? "gate-approved" : "gate-rejected"}`} aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>
        <span aria-hidden="true">{approved ? "✓ " : "✗ "}</span>
        {"Approval "}
        <code>{taskId}</code>
      </h2>
      <p class="gate-decision">
        <strong>{decisionHeadline(decision, gate)}</strong>{" "}
        <When date={new Date(decision.at)} now={now} />
      </p>
      {decision.comment && (
        <blockquote class="gate-comment">
          <p>{decision.comment}</p>
        </blockquote>
      )}
      {gate.message && (
        <p class="gate-message gate-message-past">
          <span class="muted">{"It asked: "}</span>
          {gate.message}
        </p>
      )}
    </section>
  );
}

interface GateProps {
  run: RunWithTasks;
  execution: GateExecution;
  now: Date;
  session: PageSession;
  /** The viewer as a decider; absent: the panel shows no form and no refusal. */
  decider?: Decider | undefined;
}

/** One panel per approval task that has waited, waiting ones first (they ask for something). */
export function ApprovalGates({ run, now, session, decider }: Omit<GateProps, "execution">) {
  const gates = gatesOf(run);
  if (gates.length === 0) return null;
  // A decision is written at once and applied by the node driving the run a moment later:
  // from the decision on, the panel shows it.
  const open = (execution: GateExecution) => execution.state === "waiting" && execution.decision === null;
  const waiting = gates.filter(open);
  const done = gates.filter((execution) => !open(execution));
  return (
    <div class="gates">
      {waiting.map((execution) => (
        <WaitingPanel run={run} execution={execution} now={now} session={session} decider={decider} />
      ))}
      {done.map((execution) => (
        <DecidedPanel execution={execution} now={now} />
      ))}
    </div>
  );
}
