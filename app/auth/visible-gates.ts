// Approval gates waiting now, as one caller sees them: only those of pipelines whose runs
// they may read, each saying whether they may decide it (and if not, why). The dashboard's
// "Waiting for you" and GET /api/v1/approvals both read this.
import type { Db } from "../db/client.ts";
import { listWaitingGates, type WaitingGateRow } from "../db/repos/approvals.ts";
import type { TokenRow } from "../db/repos/tokens.ts";
import { decisionRefusal } from "../domain/approvals.ts";
import { allows, type Permission } from "../domain/permissions.ts";
import { callerAsDecider } from "./decider.ts";

export interface VisibleGate extends WaitingGateRow {
  mayDecide: boolean;
  refusal?: string;
}

export async function visibleGates(db: Db, token: TokenRow, permissions: readonly Permission[]): Promise<VisibleGate[]> {
  const rows = await listWaitingGates(db);
  const deciderOf = await callerAsDecider(db, token, permissions);
  return rows
    .filter((row) => allows(permissions, "runs", "read", `${row.namespace}/${row.pipelineId}`))
    .map((row) => {
      const refusal = decisionRefusal(row.gate, row.actor, deciderOf(row.namespace, row.pipelineId));
      return { ...row, mayDecide: refusal === undefined, ...(refusal !== undefined && { refusal }) };
    });
}
