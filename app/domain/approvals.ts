// Approval gates: what a waiting gate stores, how a decision is recorded, who may decide
// (roles, the runs:approve action, never the person who started the run unless allowed),
// and the words the run shows. Pure: the engine and routes apply these.
import { formatDuration } from "./duration.ts";
import type { ApprovalSpec } from "./pipeline-spec.ts";

/** Who started a run, kept so a gate can refuse their own approval: a person, or a token. */
export interface RunActor {
  /** Shown: the token's name (a person's sign-in token is named after them). */
  name: string;
  /** The person behind the token (sign-in or personal token). */
  userId?: string;
  /** The token used, for tokens of no person. */
  tokenId?: string;
}

/** A gate as it waits, stored on its execution when it starts waiting. */
export interface WaitingGate {
  /** The message with the run's values filled in. */
  message?: string;
  approvers: string[];
  allowSelfApproval: boolean;
  onTimeout: "reject" | "approve";
  timeoutMs: number;
  /** When it began waiting (ISO); its timeout counts from here, across restarts. */
  waitingSince: string;
  /** When the timeout decides (ISO). */
  decideBy: string;
  /** Why autoApprove did not decide, when it ran. */
  autoApproveNote?: string;
}

export type DecisionOutcome = "approved" | "rejected";

/** A decision, written by whoever decides (on any node); the node driving the run applies it. */
export interface GateDecision {
  outcome: DecisionOutcome;
  /** Who: a name, or "autoApprove" / "timeout". */
  by: string;
  userId?: string;
  tokenId?: string;
  comment?: string;
  at: string;
  /** Made by autoApprove or the timeout, not a person. */
  auto?: "autoApprove" | "timeout";
}

/** The longest comment kept with a decision. */
export const MAX_DECISION_COMMENT = 2000;

/** The gate as stored when it starts waiting. */
export function waitingGate(spec: ApprovalSpec, since: Date, values: Readonly<Record<string, string>>, autoApproveNote?: string): WaitingGate {
  return {
    ...(spec.message !== undefined && { message: fillTemplate(spec.message, values) }),
    approvers: spec.approvers,
    allowSelfApproval: spec.allowSelfApproval,
    onTimeout: spec.onTimeout,
    timeoutMs: spec.timeoutMs,
    waitingSince: since.toISOString(),
    decideBy: new Date(since.getTime() + spec.timeoutMs).toISOString(),
    ...(autoApproveNote !== undefined && { autoApproveNote }),
  };
}

/** `${NAME}` replaced by the run's value of NAME; unknown names are left as written. */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? values[name]! : whole));
}

/** Someone asking to decide: their token, their person, their roles, and whether they hold runs:approve on the pipeline. */
export interface Decider {
  name: string;
  userId?: string;
  tokenId: string;
  roles: readonly string[];
  mayApprove: boolean;
}

/** Whether a decider started the run: the same person, or (for tokens of nobody) the same token. */
export function isSelf(actor: RunActor | null, decider: Pick<Decider, "userId" | "tokenId">): boolean {
  if (!actor) return false;
  if (actor.userId !== undefined) return actor.userId === decider.userId;
  return actor.tokenId !== undefined && actor.tokenId === decider.tokenId;
}

/** Why this decider may not decide this gate, or undefined when they may. */
export function decisionRefusal(gate: Pick<WaitingGate, "approvers" | "allowSelfApproval">, actor: RunActor | null, decider: Decider): string | undefined {
  if (!decider.mayApprove) return "deciding approvals needs the approve action on this pipeline's runs (runs:approve)";
  if (gate.approvers.length > 0 && !gate.approvers.some((role) => decider.roles.includes(role))) {
    return `only holders of the role${gate.approvers.length > 1 ? "s" : ""} ${gate.approvers.join(", ")} may decide this approval`;
  }
  if (!gate.allowSelfApproval && isSelf(actor, decider)) return "you started this run, and this approval does not allow self-approval (allowSelfApproval: true)";
  return undefined;
}

/**
 * The decision a gate's timeout makes. It is dated at the deadline, when it took effect (people
 * are refused from then on), not when a server got round to it: one that was down at the
 * deadline records it on its return.
 */
export function timeoutDecision(gate: WaitingGate): GateDecision {
  return { outcome: gate.onTimeout === "approve" ? "approved" : "rejected", by: "timeout", at: gate.decideBy, auto: "timeout" };
}

/** The state and reason a decided gate ends with: failed with "rejected by X: comment", or successful. */
export function decisionEnd(decision: GateDecision, gate?: Pick<WaitingGate, "timeoutMs">): { state: "successful" | "failed"; reason: string } {
  const comment = decision.comment ? `: ${decision.comment}` : "";
  if (decision.auto === "timeout") {
    const after = gate ? ` after ${formatDuration(gate.timeoutMs)}` : "";
    return decision.outcome === "approved"
      ? { state: "successful", reason: `approved: nobody decided${after} (onTimeout: "approve")` }
      : { state: "failed", reason: `rejected: nobody decided${after}` };
  }
  if (decision.auto === "autoApprove") return { state: "successful", reason: `approved by autoApprove${comment}` };
  return decision.outcome === "approved" ? { state: "successful", reason: `approved by ${decision.by}${comment}` } : { state: "failed", reason: `rejected by ${decision.by}${comment}` };
}
