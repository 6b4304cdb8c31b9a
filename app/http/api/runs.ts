// /api/v1/pipelines/:ns/:id/runs: start, list, get, cancel, re-run, and task logs.
import { COMMIT_PATTERN } from "../../domain/sources.ts";
import { Hono, type Context } from "hono";
import { actorOf, deciderOf } from "../../auth/decider.ts";
import { MAX_DECISION_COMMENT } from "../../domain/approvals.ts";
import * as v from "valibot";
import { requirePipeline } from "../../db/repos/pipelines.ts";
import { getRun, listRuns, requireExecution, requireRun, type RunWithTasks } from "../../db/repos/runs.ts";
import { attemptsOf, logKeyOf } from "../../db/repos/task-executions.ts";
import { queuePlaces } from "../../db/repos/run-queue.ts";
import { findingCountsOfRuns } from "../../db/repos/findings.ts";
import type { LevelCounts } from "../../domain/sarif.ts";
import { RERUN_SCOPES } from "../../domain/rerun-plan.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { isFinalTaskState } from "../../domain/states.ts";
import { may, requirePermission } from "../../auth/roles.ts";
import type { Deps } from "../../deps.ts";
import { truncationWithin, type LogTruncation } from "../../stores/logs.ts";
import type { AppEnv } from "../env.ts";
import { sse } from "../sse.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { validate } from "../validate.ts";
import { runJson } from "./json.ts";
import { runNumberSchema } from "../../domain/ids.ts";
import { runVariablesSchema } from "../../domain/run-variables.ts";
import { limitQuery, pipelineParams, runParams, taskParams } from "../params.ts";
import { runRowKeyString } from "../../domain/run-key.ts";
import { decisionAnswer, runAnswer, runListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";
import { runLogsDownload } from "../run-logs-download.ts";

const startBody = v.optional(
  v.strictObject({
    // Names, sizes and count are refused here with a 400 naming the limit, before anything is stored.
    variables: v.optional(runVariablesSchema),
    // Checked against the pipeline's input schemas by the engine, which names every problem.
    inputs: v.optional(v.record(v.string(), v.unknown(), "must be an object of input values, e.g. { env: \"staging\" }")),
    // A pipeline of a git source runs as of this synced commit (a sha, 7 to 40 hex digits).
    commit: v.optional(v.pipe(v.string("must be a commit sha"), v.regex(COMMIT_PATTERN, "must be a commit sha (7 to 40 hex digits)"))),
  }),
  {},
);

const decisionBody = v.optional(
  v.strictObject({
    comment: v.optional(v.pipe(v.string("must be a string"), v.maxLength(MAX_DECISION_COMMENT, `must be at most ${MAX_DECISION_COMMENT} characters`))),
  }),
  {},
);

const rerunBody = v.optional(
  v.strictObject({
    only: v.optional(v.picklist(RERUN_SCOPES, 'must be "all" (every task runs again) or "failed" (successful tasks are reused)'), "all"),
  }),
  {},
);

/** Runs as JSON, queued ones with their place in the queue, those whose scans found something with their counts. */
async function runsJson(deps: Deps, runs: RunWithTasks[]) {
  const places = await queuePlaces(deps.db, runs);
  const findings = await findingCountsOf(deps, runs);
  return Promise.all(runs.map((run) => withLogTruncation(deps, run, runJson(run, places.get(runRowKeyString(run)), findings.get(runRowKeyString(run))))));
}

/** Whether a task of the run has started (an attempt, an approval's autoApprove), here or in the run it was kept from. */
const hasRun = (execution: RunWithTasks["tasks"][number]) => execution.startedAt !== null || execution.reusedFrom !== null;
const hasRunTasks = (run: RunWithTasks) => run.tasks.some(hasRun);

/** Finding counts of the runs whose scans found something, by runRowKeyString(); one query per pipeline. */
async function findingCountsOf(deps: Deps, runs: RunWithTasks[]) {
  const counts = new Map<string, LevelCounts>();
  // Only a task that ran (or was kept from a run where it did) can have stored findings: a run
  // just started, or queued, asks for nothing (its answer is on the path of its first claim).
  const byPipeline = Map.groupBy(runs.filter(hasRunTasks), (run) => `${run.namespace}/${run.pipelineId}`);
  for (const group of byPipeline.values()) {
    const first = group[0]!;
    const found = await findingCountsOfRuns(deps.db, { namespace: first.namespace, id: first.pipelineId }, group.map((run) => run.id));
    for (const run of group) {
      const entry = found.get(run.id);
      if (entry) counts.set(runRowKeyString(run), entry);
    }
  }
  return counts;
}

const truncationJson = (truncation: LogTruncation) => ({
  truncated: true,
  droppedLines: truncation.droppedLines,
  droppedBytes: truncation.droppedBytes,
  maxBytes: truncation.maxBytes,
});

/**
 * Adds `log: { truncated: true, droppedLines, droppedBytes, maxBytes }` to each execution
 * whose log lost lines to GANTRY_LOG_MAX_BYTES, and to each of its attempts whose part did;
 * a whole log carries no `log` field. The log store keeps this in a file beside the log.
 */
async function withLogTruncation(deps: Deps, run: RunWithTasks, json: ReturnType<typeof runJson>) {
  const key = { namespace: run.namespace, id: run.pipelineId, run: run.id };
  const tasks = await Promise.all(
    json.tasks.map(async (task, index) => {
      const execution = run.tasks[index]!;
      // A task that never started has no log to have cut.
      if (!hasRun(execution)) return task;
      const logKey = logKeyOf(key, execution);
      const whole = await deps.logs.truncation(logKey);
      if (!whole) return task;
      // Each attempt's part from the same cuts: the sidecar is read once per task.
      const attempts = task.attempts.map((attempt, at) => {
        const row = execution.attempts[at];
        const part = row && truncationWithin(whole, row.logFrom, row.logTo ?? undefined);
        return part ? { ...attempt, log: truncationJson(part) } : attempt;
      });
      return { ...task, log: truncationJson(whole), attempts };
    }),
  );
  return { ...json, tasks };
}

type DecisionContext = Context<AppEnv, string, { out: { param: v.InferOutput<typeof taskParams>; json: v.InferOutput<typeof decisionBody> } }>;

/** Approve or reject a waiting gate; the engine applies the gate's rules of who may. */
async function decide(c: DecisionContext, outcome: "approved" | "rejected") {
  const deps = c.get("deps");
  const { ns, id, run, task } = c.req.valid("param");
  const key = { namespace: ns, id, run };
  const { comment } = c.req.valid("json");
  await deps.orchestrator.decideApproval(key, task, { outcome, ...(comment !== undefined && { comment }), decider: await deciderOf(deps.db, c.get("token"), c.get("permissions"), ns, id) });
  const [json] = await runsJson(deps, [await requireRun(deps.db, key)]);
  // An approver who may not read the run learns how the gate stands, not the run's variables and inputs.
  if (!may(c, "runs", "read", `${ns}/${id}`)) return c.json({ task: json!.tasks.find((candidate) => candidate.id === task) });
  return c.json({ run: json });
}

export const runsApi = new Hono<AppEnv>()
  .post("/:ns/:id/runs", doc({ summary: "Start a run", permission: "runs:write", success: 201, response: runAnswer }), permit("runs", "write", pipelineTarget), validate("param", pipelineParams), validate("json", startBody), async (c) => {
    const token = c.get("token");
    const { ns, id } = c.req.valid("param");
    const deps = c.get("deps");
    const body = c.req.valid("json");
    const pinned = body.commit === undefined ? undefined : await deps.sources.pin(await requirePipeline(deps.db, { namespace: ns, id }), body.commit);
    const run = await deps.orchestrator.startRun(
      { namespace: ns, id },
      {
        variables: body.variables ?? {},
        ...(body.inputs && { inputs: body.inputs }),
        ...(pinned && { pinned }),
        actor: await actorOf(deps.db, token),
        trigger: { kind: "api", by: token.name },
      },
    );
    const [json] = await runsJson(deps, [run]);
    return c.json({ run: json }, 201);
  })
  .get(
    "/:ns/:id/runs", doc({ summary: "Runs, newest first", permission: "runs:read", response: runListAnswer }),
    validate("param", pipelineParams),
    validate("query", v.object({ limit: limitQuery(20, 500), before: v.optional(runNumberSchema) })),
    async (c) => {
      const deps = c.get("deps");
      const { db } = deps;
      const { ns, id } = c.req.valid("param");
      requirePermission(c, "runs", "read", `${ns}/${id}`);
      const key = { namespace: ns, id };
      await requirePipeline(db, key);
      const { limit, before } = c.req.valid("query");
      const runs = await listRuns(db, key, { limit, ...(before !== undefined && { before }) });
      return c.json({ runs: await runsJson(deps, runs) });
    },
  )
  .get("/:ns/:id/runs/:run", doc({ summary: "One run with its task executions and their attempts; a task waiting to retry has retryAt (ISO), one being stopped at its timeout the reason \"timed out after ..., stopping\"; one (and an attempt) whose log passed GANTRY_LOG_MAX_BYTES has log: { truncated: true, droppedLines, droppedBytes, maxBytes }", permission: "runs:read", response: runAnswer }), validate("param", runParams), async (c) => {
    const { ns, id, run } = c.req.valid("param");
    requirePermission(c, "runs", "read", `${ns}/${id}`);
    const deps = c.get("deps");
    const [json] = await runsJson(deps, [await requireRun(deps.db, { namespace: ns, id, run })]);
    return c.json({ run: json });
  })
  .post("/:ns/:id/runs/:run/cancel", doc({ summary: "Cancel a run: a queued one ends at once, a running one is stopped by the node driving it", permission: "runs:write", success: 202, response: runAnswer }), validate("param", runParams), async (c) => {
    const token = c.get("token");
    const deps = c.get("deps");
    const { ns, id, run } = c.req.valid("param");
    requirePermission(c, "runs", "write", `${ns}/${id}`);
    const key = { namespace: ns, id, run };
    await requireRun(deps.db, key);
    await deps.orchestrator.cancelRun(key, token.name);
    const [json] = await runsJson(deps, [await requireRun(deps.db, key)]);
    return c.json({ run: json }, 202);
  })
  .post("/:ns/:id/runs/:run/rerun", doc({ summary: "Re-run an ended run on its version with its variables; only \"failed\" reuses its successful tasks and a copy of its workspace (409 if pruned)", permission: "runs:write", success: 201, response: runAnswer }), permit("runs", "write", pipelineTarget), validate("param", runParams), validate("json", rerunBody), async (c) => {
    const deps = c.get("deps");
    const { ns, id, run } = c.req.valid("param");
    const token = c.get("token");
    const rerun = await deps.orchestrator.rerunRun({ namespace: ns, id, run }, { only: c.req.valid("json").only, actor: await actorOf(deps.db, token), trigger: { kind: "api", by: token.name } });
    const [json] = await runsJson(deps, [rerun]);
    return c.json({ run: json }, 201);
  })
  .post("/:ns/:id/runs/:run/tasks/:task/approve", doc({ summary: "Approve a waiting approval gate (runs:approve; one of its approvers roles when it names some; never the run's starter unless it allows self-approval); 409 when it is not waiting or its deadline passed. Answers { run }, or { task } to a caller without runs:read", permission: "runs:approve", response: decisionAnswer }), permit("runs", "approve", pipelineTarget), validate("param", taskParams), validate("json", decisionBody), (c) =>
    decide(c, "approved"),
  )
  .post("/:ns/:id/runs/:run/tasks/:task/reject", doc({ summary: "Reject a waiting approval gate: it ends failed with reason \"rejected by <who>: <comment>\" (same rules as approve)", permission: "runs:approve", response: decisionAnswer }), permit("runs", "approve", pipelineTarget), validate("param", taskParams), validate("json", decisionBody), (c) =>
    decide(c, "rejected"),
  )
  .get(
    "/:ns/:id/runs/:run/logs",
    doc({
      summary: "Every task log of the run as one gzip'd tar (<task>.log each, masked as stored), as an attachment",
      permission: "logs:read on the pipeline",
      response: { mediaType: "application/gzip", description: "a tar.gz of the run's task logs" },
    }),
    validate("param", runParams),
    async (c) => {
      const { ns, id, run } = c.req.valid("param");
      // Before anything is read: a caller without logs:read learns nothing, not even whether the run exists.
      requirePermission(c, "logs", "read", `${ns}/${id}`);
      return runLogsDownload(c.get("deps"), { namespace: ns, id, run });
    },
  )
  .get(
    "/:ns/:id/runs/:run/tasks/:task/logs", doc({ summary: "A task's log as text/plain (attempt=N: that attempt's part); follow=1 streams it as SSE until the task ends. Past the cap a log keeps its start and each attempt's last lines, a [gantry] line marking what was dropped", permission: "logs:read", response: { mediaType: "text/plain", description: "the log's lines (with follow=1: text/event-stream, each line an event, then an end event { state, exitCode })" } }),
    validate("param", taskParams),
    validate(
      "query",
      v.object({
        follow: v.optional(v.picklist(["0", "1", "true", "false"], 'must be "1" or "0"')),
        attempt: v.optional(runNumberSchema),
      }),
    ),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run, task } = c.req.valid("param");
      requirePermission(c, "logs", "read", `${ns}/${id}`);
      const key = { namespace: ns, id, run };
      const execution = requireExecution(await requireRun(deps.db, key), task);
      // A reused task's log is the one of the run that executed it.
      const logKey = logKeyOf(key, execution);
      const { follow, attempt } = c.req.valid("query");
      if (attempt !== undefined) {
        const part = (await attemptsOf(deps.db, key, execution)).find((candidate) => candidate.attempt === attempt);
        if (!part) throw new NotFoundError(`task ${task} of run ${run} of ${ns}/${id} has no attempt ${attempt}`);
        return c.text((await deps.logs.readRange(logKey, part.logFrom, part.logTo ?? undefined)) ?? "", 200, { "content-type": "text/plain; charset=utf-8" });
      }
      if (follow !== "1" && follow !== "true") {
        return c.text((await deps.logs.read(logKey)) ?? "", 200, { "content-type": "text/plain; charset=utf-8" });
      }
      const finished = async () => {
        const current = await getRun(deps.db, key);
        const execution = current?.tasks.find((candidate) => candidate.taskId === task);
        return !execution || isFinalTaskState(execution.state);
      };
      return sse(c, async (stream, signal) => {
        for await (const chunk of deps.logs.follow(logKey, finished, signal)) {
          await stream.writeSSE({ data: chunk.replace(/\n$/, "") });
        }
        const current = await getRun(deps.db, key);
        const execution = current?.tasks.find((candidate) => candidate.taskId === task);
        await stream.writeSSE({ event: "end", data: JSON.stringify({ state: execution?.state ?? "unknown", exitCode: execution?.exitCode ?? null }) });
      });
    },
  );
