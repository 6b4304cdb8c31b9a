// Decide: a write any process may make. The decision is stored on the waiting gate (the
// first one counts) with its event, after the rules of who may decide; the node driving
// the run applies it: at once when that is this process, otherwise on its next look.
import { readGate, recordDecision } from "../../db/repos/approvals.ts";
import { getRunRow } from "../../db/repos/runs.ts";
import { decisionRefusal, MAX_DECISION_COMMENT, type Decider, type DecisionOutcome, type GateDecision } from "../../domain/approvals.ts";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { runKeyString, type RunKey } from "../../domain/run-key.ts";
import { decisionEvent } from "./await-approval.ts";
import type { EngineContext } from "./engine-context.ts";

export interface ApprovalDecision {
  outcome: DecisionOutcome;
  comment?: string;
  decider: Decider;
}

/** How long a decision made here waits for the gate to end, so the answer shows it ended. */
const APPLY_WAIT_MS = 2_000;

export async function decideApproval(ctx: EngineContext, key: RunKey, taskId: string, request: ApprovalDecision): Promise<void> {
  const comment = request.comment?.trim();
  if (comment !== undefined && comment.length > MAX_DECISION_COMMENT) throw new ValidationError(`the comment is ${comment.length} characters, over the limit of ${MAX_DECISION_COMMENT}`);
  const name = `run ${key.run} of ${key.namespace}/${key.id}`;
  const decision: GateDecision = {
    outcome: request.outcome,
    by: request.decider.name,
    ...(request.decider.userId && { userId: request.decider.userId }),
    tokenId: request.decider.tokenId,
    ...(comment && { comment }),
    at: ctx.now().toISOString(),
  };
  await ctx.db.transaction(async (tx) => {
    const gate = await readGate(tx, key, taskId);
    if (!gate) {
      if (!(await getRunRow(tx, key))) throw new NotFoundError(`${name} not found`);
      throw new NotFoundError(`task ${taskId} is not part of ${name}`);
    }
    if (gate.kind !== "approval") throw new ConflictError(`task ${taskId} of ${name} is not an approval`);
    if (gate.decision) throw new ConflictError(`task ${taskId} of ${name} was already ${gate.decision.outcome} by ${gate.decision.by}`);
    if (gate.state !== "waiting" || !gate.gate || gate.runState !== "running") {
      throw new ConflictError(`task ${taskId} of ${name} is not waiting for approval (it is ${gate.state}${gate.runState !== "running" ? `; the run is ${gate.runState}` : ""})`);
    }
    if (gate.cancelRequestedAt) throw new ConflictError(`${name} is being cancelled`);
    // Past its deadline the timeout has decided, even if the server was down to record it.
    if (ctx.now().getTime() >= new Date(gate.gate.decideBy).getTime()) {
      throw new ConflictError(`the approval ${taskId} of ${name} timed out at ${gate.gate.decideBy} (${gate.gate.onTimeout === "approve" ? "approved" : "rejected"} by its timeout)`);
    }
    const refusal = decisionRefusal(gate.gate, gate.actor, request.decider);
    if (refusal) throw new ForbiddenError(refusal);
    if (!(await recordDecision(tx, key, taskId, decision, decisionEvent(ctx, { key }, { id: taskId }, decision)))) {
      throw new ConflictError(`task ${taskId} of ${name} is no longer waiting for approval`);
    }
  });
  ctx.publish(`approval.${request.outcome}`, key, taskId);
  // Driven here: the gate ends now. Driven by another node: it acts on its next look.
  const run = ctx.active.get(runKeyString(key));
  const ended = run?.gateEnds.get(taskId);
  run?.gateWaits.get(taskId)?.();
  if (ended) await Promise.race([ended, Bun.sleep(APPLY_WAIT_MS)]);
}

/** Wakes gates of runs this node drives whose decision was made through another node. */
export function actOnDecision(ctx: EngineContext, key: RunKey, taskId: string): void {
  ctx.active.get(runKeyString(key))?.gateWaits.get(taskId)?.();
}
