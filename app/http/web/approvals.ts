// Web routes: deciding an approval gate from its run page (POST …/tasks/:task/approve and
// /reject, with an optional comment). The engine holds the rules (runs:approve, approvers,
// no self-approval); a refusal or a gate decided meanwhile is said on the run page.
import { Hono, type Context } from "hono";
import * as v from "valibot";
import { deciderOf } from "../../auth/decider.ts";
import { MAX_DECISION_COMMENT, type DecisionOutcome } from "../../domain/approvals.ts";
import { ConflictError, ForbiddenError } from "../../domain/errors.ts";
import { statusOf } from "../errors.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { taskParams } from "../params.ts";
import { validate } from "../validate.ts";
import { runPath } from "./paths.ts";
import { gateSectionId } from "./components/run-tasks.tsx";
import { renderRunPage } from "./runs.tsx";

const decisionForm = v.object({
  comment: v.optional(
    v.pipe(v.string(), v.trim(), v.maxLength(MAX_DECISION_COMMENT, `must be at most ${MAX_DECISION_COMMENT} characters`)),
    "",
  ),
});

type DecideContext = Context<AppEnv, string, { out: { param: v.InferOutput<typeof taskParams>; form: v.InferOutput<typeof decisionForm> } }>;

/** Records the decision and goes back to the gate's panel; a refusal renders the run page with why. */
async function decide(c: DecideContext, outcome: DecisionOutcome) {
  const deps = c.get("deps");
  const { ns, id, run, task } = c.req.valid("param");
  const { comment } = c.req.valid("form");
  const key = { namespace: ns, id, run };
  try {
    // An unknown run or task is a NotFoundError (404) from here too.
    await deps.orchestrator.decideApproval(key, task, {
      outcome,
      ...(comment !== "" && { comment }),
      decider: await deciderOf(deps.db, c.get("token"), c.get("permissions"), ns, id),
    });
  } catch (error) {
    // Not allowed to (self-approval, not an approver, no runs:approve) or decided already:
    // the page shows the gate as it now stands, with the reason above it.
    if (error instanceof ForbiddenError || error instanceof ConflictError) {
      return renderRunPage(c, key, { decisionError: { taskId: task, message: error.message }, status: statusOf(error) });
    }
    throw error;
  }
  return c.redirect(`${runPath({ namespace: ns, pipelineId: id, id: run })}#${gateSectionId(task)}`, 303);
}

export const approvalPages = new Hono<AppEnv>()
  // runs:read first: whoever may not see the run learns nothing else; the engine checks the rest.
  .post(
    "/:ns/:id/runs/:run/tasks/:task/approve",
    requireSession,
    requireCsrf,
    permit("runs", "read", pipelineTarget),
    validate("param", taskParams),
    validate("form", decisionForm),
    (c) => decide(c, "approved"),
  )
  .post(
    "/:ns/:id/runs/:run/tasks/:task/reject",
    requireSession,
    requireCsrf,
    permit("runs", "read", pipelineTarget),
    validate("param", taskParams),
    validate("form", decisionForm),
    (c) => decide(c, "rejected"),
  );
