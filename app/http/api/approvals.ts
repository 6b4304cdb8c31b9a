// /api/v1/approvals: approval gates waiting now, of pipelines whose runs the caller may
// read, each saying whether the caller may decide it. Deciding is under the run's task.
import { Hono } from "hono";
import { visibleGates } from "../../auth/visible-gates.ts";
import type { AppEnv } from "../env.ts";
import { gateJson } from "./json.ts";
import { approvalListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

export const approvalsApi = new Hono<AppEnv>().get("/", doc({ summary: "Approval gates waiting now, of pipelines whose runs the caller may read, each with mayDecide (and refusal: why not)", response: approvalListAnswer }), async (c) => {
  // Filtered by runs:read per pipeline, like GET /pipelines: every token may ask.
  const gates = await visibleGates(c.get("deps").db, c.get("token"), c.get("permissions"));
  return c.json({
    approvals: gates.map((gate) => ({
      namespace: gate.namespace,
      pipeline: gate.pipelineId,
      run: gate.runId,
      task: gate.taskId,
      ...gateJson(gate.gate),
      ...(gate.actor && { startedBy: gate.actor.name }),
      mayDecide: gate.mayDecide,
      ...(gate.refusal !== undefined && { refusal: gate.refusal }),
    })),
  });
});
