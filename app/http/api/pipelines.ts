// /api/v1/pipelines: list, one pipeline, its versions.
import { Hono } from "hono";
import * as v from "valibot";
import { getVersion, listPipelines, listVersions, requirePipeline } from "../../db/repos/pipelines.ts";
import { idSchema, runNumberSchema } from "../../domain/ids.ts";
import { getSource } from "../../db/repos/sources.ts";
import { versionDiff } from "../../engine/pipelines/version-diff.ts";
import { may, requirePermission } from "../../auth/roles.ts";
import type { AppEnv } from "../env.ts";
import { validate } from "../validate.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { pipelineJson, versionJson } from "./json.ts";
import { pipelineParams } from "../params.ts";
import { pipelineAnswer, pipelineListAnswer, versionDiffAnswer, versionListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

export const pipelinesApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "List pipelines", response: pipelineListAnswer }), validate("query", v.object({ namespace: v.optional(idSchema) })), async (c) => {
    const { db } = c.get("deps");
    // A list shows what the caller may read; nothing to deny.
    const rows = (await listPipelines(db, c.req.valid("query").namespace)).filter((row) => may(c, "pipelines", "read", `${row.namespace}/${row.id}`));
    const pipelines = await Promise.all(
      rows.map(async (row) => pipelineJson(row, row.currentVersion ? await getVersion(db, row, row.currentVersion) : undefined)),
    );
    return c.json({ pipelines });
  })
  .get("/:ns/:id", doc({ summary: "One pipeline with its current version, its inputs (JSON Schema) and load error", permission: "pipelines:read", response: pipelineAnswer }), validate("param", pipelineParams), async (c) => {
    const { db } = c.get("deps");
    const { ns, id } = c.req.valid("param");
    requirePermission(c, "pipelines", "read", `${ns}/${id}`);
    const row = await requirePipeline(db, { namespace: ns, id });
    const version = row.currentVersion ? await getVersion(db, row, row.currentVersion) : undefined;
    return c.json({ pipeline: pipelineJson(row, version) });
  })
  .get("/:ns/:id/versions", doc({ summary: "Versions of a pipeline, newest first; one from a git source has commit { sha, author, message, committedAt, source, url? }", permission: "pipelines:read", response: versionListAnswer }), validate("param", pipelineParams), async (c) => {
    const { db } = c.get("deps");
    const { ns, id } = c.req.valid("param");
    requirePermission(c, "pipelines", "read", `${ns}/${id}`);
    const key = { namespace: ns, id };
    const pipeline = await requirePipeline(db, key);
    const repo = pipeline.source === null ? undefined : (await getSource(db, pipeline.source))?.repo;
    return c.json({ versions: (await listVersions(db, key)).map((version) => versionJson(version, repo)) });
  })
  .get(
    "/:ns/:id/versions/:version/diff", doc({ summary: "What changed in a version: { from, to, complete, files: [{ path, status (added|removed|changed), patch (unified diff), added, removed }] } against the version before it, or against=N", permission: "pipelines:read", response: versionDiffAnswer }),
    permit("pipelines", "read", pipelineTarget),
    validate("param", v.object({ ...pipelineParams.entries, version: runNumberSchema })),
    validate("query", v.object({ against: v.optional(runNumberSchema) })),
    async (c) => {
      const { db } = c.get("deps");
      const { ns, id, version } = c.req.valid("param");
      const key = { namespace: ns, id };
      await requirePipeline(db, key);
      return c.json(await versionDiff(db, key, version, c.req.valid("query").against));
    },
  );
