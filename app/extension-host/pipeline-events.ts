// Turns what the engine publishes on the bus (run.started, run.finished, task.waiting,
// approval.approved|rejected) and the run as stored into the PipelineEvents extensions are
// told of. Pure: the host reads the run and posts what this returns.
import type { GateDecision } from "../domain/approvals.ts";
import type { PipelineEvent, PipelineEventDecision } from "../sdk/extension.ts";

/** The bus kinds that become pipeline events; the rest are not news for extensions. */
export const EVENT_BUS_KINDS = ["run.started", "run.finished", "task.waiting", "approval.approved", "approval.rejected"] as const;

/** The run as the builder needs it: a slice of RunWithTasks. */
export interface EventRun {
  namespace: string;
  pipelineId: string;
  id: number;
  state: string;
  reason: string | null;
  tasks: { taskId: string; gate: { message?: string; approvers: string[]; decideBy: string } | null; decision: GateDecision | null }[];
}

const FINAL = new Set(["successful", "failed", "cancelled"]);

/** The run's web page and its API, under the server's public URL. */
export function runLinks(baseUrl: string, run: Pick<EventRun, "namespace" | "pipelineId" | "id">) {
  const path = `/pipelines/${encodeURIComponent(run.namespace)}/${encodeURIComponent(run.pipelineId)}/runs/${run.id}`;
  return { page: `${baseUrl}${path}`, api: `${baseUrl}/api/v1${path}` };
}

/** Only what a decision says to the world: no user or token ids. */
const decisionOf = (decision: GateDecision): PipelineEventDecision => ({
  outcome: decision.outcome,
  by: decision.by,
  ...(decision.comment !== undefined && { comment: decision.comment }),
  at: decision.at,
  ...(decision.auto !== undefined && { auto: decision.auto }),
});

/**
 * The events one bus message means for this run: run.finished is two (`run.<state>`, then
 * `run.finished`); none when the run is not (or no longer) what the message says, e.g. a
 * gate already decided by the time its waiting was read.
 */
export function pipelineEventsFor(busKind: string, task: string | undefined, run: EventRun, baseUrl: string, at: Date): PipelineEvent[] {
  const links = runLinks(baseUrl, run);
  const base = {
    namespace: run.namespace,
    pipeline: run.pipelineId,
    run: run.id,
    url: links.page,
    state: run.state,
    ...(run.reason !== null && run.reason !== "" && { reason: run.reason }),
    at: at.toISOString(),
  };
  switch (busKind) {
    case "run.started": {
      // Read a moment later, a quick run may have ended already; this event is its start.
      const { reason: _ended, ...started } = base;
      return [{ kind: "run.started", ...started, state: "running" }];
    }
    case "run.finished": {
      if (!FINAL.has(run.state)) return [];
      return [{ kind: `run.${run.state as "successful" | "failed" | "cancelled"}`, ...base }, { kind: "run.finished", ...base }];
    }
    case "task.waiting":
    case "approval.approved":
    case "approval.rejected": {
      const execution = run.tasks.find((candidate) => candidate.taskId === task);
      if (!execution?.gate) return [];
      // Decided before its waiting was read: nobody needs asking, and the decision's own event follows.
      if (busKind === "task.waiting" && execution.decision) return [];
      const decision = busKind === "task.waiting" ? undefined : execution.decision;
      if (busKind !== "task.waiting" && decision?.outcome !== busKind.slice("approval.".length)) return [];
      const taskApi = `${links.api}/tasks/${encodeURIComponent(execution.taskId)}`;
      const approval: NonNullable<PipelineEvent["approval"]> = {
        ...(execution.gate.message !== undefined && { message: execution.gate.message }),
        approvers: execution.gate.approvers,
        decideBy: execution.gate.decideBy,
        links: { page: links.page, approve: `${taskApi}/approve`, reject: `${taskApi}/reject` },
        ...(decision && { decision: decisionOf(decision) }),
      };
      const kind = busKind === "task.waiting" ? "approval.waiting" : (busKind as "approval.approved" | "approval.rejected");
      return [{ kind, ...base, task: execution.taskId, approval }];
    }
    default:
      return [];
  }
}
