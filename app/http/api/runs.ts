// /api/v1/pipelines/:ns/:id/runs: start, list, get, cancel, and task logs.
import { Hono } from "hono";
import * as v from "valibot";
import { requirePipeline } from "../../db/repos/pipelines.ts";
import { getRun, listRuns } from "../../db/repos/runs.ts";
import { NotFoundError } from "../../domain/errors.ts";
import { isFinalTaskState } from "../../domain/states.ts";
import { requirePermission } from "../../auth/roles.ts";
import type { Deps } from "../../deps.ts";
import type { RunKey } from "../../db/repos/runs.ts";
import type { AppEnv } from "../env.ts";
import { sse } from "../sse.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { validate } from "../validate.ts";
import { runJson } from "./json.ts";
import { runNumberSchema } from "../../domain/ids.ts";
import { limitQuery, pipelineParams, runParams, taskParams } from "../params.ts";

const startBody = v.optional(
  v.strictObject({
    variables: v.optional(v.record(v.string(), v.string("variable values must be strings"))),
  }),
  {},
);


async function requireRun(deps: Deps, key: RunKey) {
  const run = await getRun(deps.db, key);
  if (!run) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
  return run;
}

export const runsApi = new Hono<AppEnv>()
  .post("/:ns/:id/runs", permit("runs", "write", pipelineTarget), validate("param", pipelineParams), validate("json", startBody), async (c) => {
    const token = c.get("token");
    const { ns, id } = c.req.valid("param");
    const run = await c
      .get("deps")
      .orchestrator.startRun({ namespace: ns, id }, { variables: c.req.valid("json").variables ?? {}, trigger: { kind: "api", by: token.name } });
    return c.json({ run: runJson(run) }, 201);
  })
  .get(
    "/:ns/:id/runs",
    validate("param", pipelineParams),
    validate("query", v.object({ limit: limitQuery(20, 500), before: v.optional(runNumberSchema) })),
    async (c) => {
      const { db } = c.get("deps");
      const { ns, id } = c.req.valid("param");
      requirePermission(c, "runs", "read", `${ns}/${id}`);
      const key = { namespace: ns, id };
      await requirePipeline(db, key);
      const { limit, before } = c.req.valid("query");
      const runs = await listRuns(db, key, { limit, ...(before !== undefined && { before }) });
      return c.json({ runs: runs.map(runJson) });
    },
  )
  .get("/:ns/:id/runs/:run", validate("param", runParams), async (c) => {
    const { ns, id, run } = c.req.valid("param");
    requirePermission(c, "runs", "read", `${ns}/${id}`);
    return c.json({ run: runJson(await requireRun(c.get("deps"), { namespace: ns, id, run })) });
  })
  .post("/:ns/:id/runs/:run/cancel", validate("param", runParams), async (c) => {
    const token = c.get("token");
    const deps = c.get("deps");
    const { ns, id, run } = c.req.valid("param");
    requirePermission(c, "runs", "write", `${ns}/${id}`);
    const key = { namespace: ns, id, run };
    await requireRun(deps, key);
    await deps.orchestrator.cancelRun(key, token.name);
    return c.json({ run: runJson(await requireRun(deps, key)) }, 202);
  })
  .get(
    "/:ns/:id/runs/:run/tasks/:task/logs",
    validate("param", taskParams),
    validate("query", v.object({ follow: v.optional(v.picklist(["0", "1", "true", "false"], 'must be "1" or "0"')) })),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run, task } = c.req.valid("param");
      requirePermission(c, "logs", "read", `${ns}/${id}`);
      const key = { namespace: ns, id, run };
      const stored = await requireRun(deps, key);
      if (!stored.tasks.some((execution) => execution.taskId === task)) {
        throw new NotFoundError(`task ${task} is not part of run ${run} of ${ns}/${id}`);
      }
      const logKey = { namespace: ns, pipeline: id, run, task };
      const follow = c.req.valid("query").follow;
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
