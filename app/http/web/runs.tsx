// Web pages: /pipelines/:ns/:id/runs/:run: the run page (a queued run's place in the queue,
// attempts, reused tasks), its one live stream (run-stream.tsx), each task's raw log (whole or
// one attempt's part), and the cancel and re-run forms.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import { actorOf, deciderOf } from "../../auth/decider.ts";
import { may, requirePermission } from "../../auth/roles.ts";
import { requireExecution, requireRun, type RunWithTasks } from "../../db/repos/runs.ts";
import { attemptsOf, logKeyOf } from "../../db/repos/task-executions.ts";
import { ConflictError, NotFoundError } from "../../domain/errors.ts";
import { runNumberSchema } from "../../domain/ids.ts";
import { RERUN_SCOPES } from "../../domain/rerun-plan.ts";
import type { RunKey } from "../../domain/run-key.ts";
import { isFinalRunState, isFinalTaskState } from "../../domain/states.ts";
import { runParams, taskParams } from "../params.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { runPath } from "./paths.ts";
import { RunPage, type TaskLog } from "./pages/run.tsx";
import { MAX_LOG_LINES, positionsQuery, positionsQueryValue, type LogPositions } from "./run-log-follower.ts";
import { queuePlaceOf, runVersionOf, tasksOfVersion } from "./run-reads.ts";
import { runPageFindings } from "./run-findings.ts";
import { runCommitOf } from "./run-commit.ts";
import { streamRun } from "./run-stream.tsx";
import { listRunArtifacts } from "../../db/repos/artifacts.ts";

const rerunForm = v.object({
  only: v.optional(v.picklist(RERUN_SCOPES, 'must be "all" or "failed"'), "all"),
});

export interface RunPageOptions {
  /** Why a re-run asked for from this page was refused. */
  rerunError?: string;
  /** Why a decision on one of its approval gates was refused. */
  decisionError?: { taskId: string; message: string };
  status?: ContentfulStatusCode;
}

/** The run page, or a 403/404; a POST that failed renders it too, with why. */
export async function renderRunPage(c: Context<AppEnv>, key: RunKey, { rerunError, decisionError, status = 200 }: RunPageOptions = {}) {
  const deps = c.get("deps");
  const target = `${key.namespace}/${key.id}`;
  requirePermission(c, "runs", "read", target);
  const run = await requireRun(deps.db, key);
  // One read of the run's version serves its tasks and its commit's source.
  const [version, queuePlace] = await Promise.all([runVersionOf(deps, run), queuePlaceOf(deps, run)]);
  const specTasks = tasksOfVersion(version);
  const findings = await runPageFindings(deps, key, specTasks);
  const artifacts = await listRunArtifacts(deps.db, key);
  const commit = await runCommitOf(deps, run, version);
  const readsLogs = may(c, "logs", "read", target);
  // Where each pane's lines end: the live stream goes on from there.
  const positions: LogPositions = new Map();
  let logs: TaskLog[] | undefined;
  if (readsLogs) {
    logs = await Promise.all(
      run.tasks.map(async (execution): Promise<TaskLog> => {
        const [tail, truncation] = await Promise.all([deps.logs.tail(logKeyOf(key, execution), 0, MAX_LOG_LINES), deps.logs.truncation(logKeyOf(key, execution))]);
        const total = tail.skipped + tail.lines.length;
        // A reused task's lines are another run's: the stream never follows them.
        if (execution.reusedFrom === null) positions.set(execution.taskId, { offset: tail.end, line: total + 1 });
        return { execution, lines: tail.lines, total, live: !isFinalTaskState(execution.state), truncation };
      }),
    );
  }
  const from = positionsQueryValue(positions);
  const liveUrl = isFinalRunState(run.state) ? undefined : `${runPath(run)}/live${from ? `?from=${from}` : ""}`;
  return c.html(
    <RunPage
      run={run}
      specTasks={specTasks}
      now={deps.now()}
      session={await pageSession(c, runPath(run))}
      canWrite={may(c, "runs", "write", target)}
      canExec={may(c, "runs", "exec", target)}
      readsLogs={readsLogs}
      {...(queuePlace && { queuePlace })}
      {...(rerunError && { rerunError })}
      {...(decisionError && { decisionError })}
      decider={run.tasks.some((task) => task.kind === "approval") ? await deciderOf(deps.db, c.get("token"), c.get("permissions"), key.namespace, key.id) : undefined}
      liveUrl={liveUrl}
      logs={logs}
      artifacts={artifacts}
      findings={findings}
      commit={commit}
    />,
    status,
  );
}

export const runPages = new Hono<AppEnv>()
  .get("/:ns/:id/runs/:run", requireSession, validate("param", runParams), async (c) => {
    const { ns, id, run } = c.req.valid("param");
    return renderRunPage(c, { namespace: ns, id, run });
  })
  .get(
    "/:ns/:id/runs/:run/live",
    requireSession,
    validate("param", runParams),
    validate("query", v.object({ from: positionsQuery })),
    async (c) => {
      const { ns, id, run } = c.req.valid("param");
      return streamRun(c, { namespace: ns, id, run }, c.req.valid("query").from);
    },
  )
  .get(
    "/:ns/:id/runs/:run/tasks/:task/log.txt",
    requireSession,
    permit("logs", "read", pipelineTarget),
    validate("param", taskParams),
    validate("query", v.object({ attempt: v.optional(runNumberSchema) })),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run: number, task } = c.req.valid("param");
      const { attempt } = c.req.valid("query");
      const key = { namespace: ns, id, run: number };
      const execution = requireExecution(await requireRun(deps.db, key), task);
      const headers = (name: string) => ({ "content-type": "text/plain; charset=utf-8", "content-disposition": `inline; filename="${name}.log"` });
      const name = `${ns}-${id}-${number}-${task}`;
      if (attempt === undefined) return c.body((await deps.logs.read(logKeyOf(key, execution))) ?? "", 200, headers(name));
      const attempts = await attemptsOf(deps.db, key, execution);
      const part = attempts.find((candidate) => candidate.attempt === attempt);
      if (!part) {
        const tried = attempts.length;
        throw new NotFoundError(
          `task ${task} of run ${number} of ${ns}/${id} has no attempt ${attempt}${tried > 0 ? ` (it has ${tried === 1 ? "1 attempt" : `attempts 1 to ${tried}`})` : ""}`,
        );
      }
      const text = await deps.logs.readRange(logKeyOf(key, execution), part.logFrom, part.logTo ?? undefined);
      return c.body(text ?? "", 200, headers(`${name}-attempt-${attempt}`));
    },
  )
  .post("/:ns/:id/runs/:run/cancel", requireSession, requireCsrf, validate("param", runParams), async (c) => {
    const deps = c.get("deps");
    const { ns, id, run: number } = c.req.valid("param");
    requirePermission(c, "runs", "write", `${ns}/${id}`);
    const key = { namespace: ns, id, run: number };
    try {
      // An unknown run is a NotFoundError (404) from here too.
      await deps.orchestrator.cancelRun(key, c.get("token").name);
    } catch (error) {
      // Ended before the click arrived: the page shows how it ended.
      if (!(error instanceof ConflictError)) throw error;
    }
    return c.redirect(runPath({ namespace: ns, pipelineId: id, id: number }), 303);
  })
  .post(
    "/:ns/:id/runs/:run/rerun",
    requireSession,
    requireCsrf,
    permit("runs", "write", pipelineTarget),
    validate("param", runParams),
    validate("form", rerunForm),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run: number } = c.req.valid("param");
      const key = { namespace: ns, id, run: number };
      let rerun: RunWithTasks;
      try {
        // The same version and variables; an unknown run is a NotFoundError (404).
        rerun = await deps.orchestrator.rerunRun(key, { only: c.req.valid("form").only, actor: await actorOf(deps.db, c.get("token")), trigger: { kind: "web", by: c.get("token").name } });
      } catch (error) {
        // Not ended yet, its code or workspace pruned, nothing failed: said on the run's page.
        if (!(error instanceof ConflictError)) throw error;
        return renderRunPage(c, key, { rerunError: error.message, status: 409 });
      }
      return c.redirect(runPath(rerun), 303);
    },
  );
