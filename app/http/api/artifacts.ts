// /api/v1/pipelines/:ns/:id/runs/:run/artifacts (list, download one, verified) and
// /api/v1/pipelines/:ns/:id/caches (the pipeline's cache entries).
import { Hono } from "hono";
import * as v from "valibot";
import { listRunArtifacts, type ArtifactRow } from "../../db/repos/artifacts.ts";
import { listCacheEntries, type CacheEntryRow } from "../../db/repos/cache-entries.ts";
import { requirePipeline } from "../../db/repos/pipelines.ts";
import { requireRunExists } from "../../db/repos/runs.ts";
import { ARTIFACT_NAME_PATTERN } from "../../domain/task-files.ts";
import { artifactDownload } from "../artifact-download.ts";
import type { AppEnv } from "../env.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { pipelineParams, runParams } from "../params.ts";
import { validate } from "../validate.ts";
import { artifactListAnswer, cacheListAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

const artifactParams = v.object({
  ...runParams.entries,
  name: v.pipe(v.string(), v.regex(ARTIFACT_NAME_PATTERN, "must be an artifact name: 1-128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)")),
});

export function artifactJson(row: ArtifactRow) {
  return { name: row.name, task: row.taskId, path: row.path, kind: row.kind, size: row.size, sha256: row.sha256, createdAt: row.createdAt.toISOString() };
}

export function cacheEntryJson(row: CacheEntryRow) {
  return { key: row.key, size: row.size, sha256: row.sha256, run: row.runId, createdAt: row.createdAt.toISOString(), lastUsedAt: row.lastUsedAt.toISOString() };
}

// Permission first: a caller without it learns nothing, not even whether the run exists.
export const artifactsApi = new Hono<AppEnv>()
  .get("/:ns/:id/runs/:run/artifacts", doc({ summary: "The artifacts the run's tasks stored: { artifacts: [{ name, task, path, kind (file|folder), size, sha256, createdAt }] } (runs:read)", permission: "runs:read", response: artifactListAnswer }), permit("runs", "read", pipelineTarget), validate("param", runParams), async (c) => {
    const { ns, id, run } = c.req.valid("param");
    const { db } = c.get("deps");
    const key = { namespace: ns, id, run };
    await requireRunExists(db, key);
    return c.json({ artifacts: (await listRunArtifacts(db, key)).map(artifactJson) });
  })
  .get("/:ns/:id/runs/:run/artifacts/:name", doc({ summary: "One artifact as a tar (application/x-tar, attachment), checked against its sha256 before a byte is sent (x-checksum-sha256 and digest headers); a corrupted one is a 409 saying so, never its bytes (runs:read)", permission: "runs:read", response: { mediaType: "application/x-tar", description: "the artifact as a tar, checked against its sha256" } }), permit("runs", "read", pipelineTarget), validate("param", artifactParams), async (c) => {
    const { ns, id, run, name } = c.req.valid("param");
    return artifactDownload(c.get("deps"), { namespace: ns, id, run }, name);
  })
  .get("/:ns/:id/caches", doc({ summary: "The pipeline's cache entries, most recently used first: { caches: [{ key, size, sha256, run, createdAt, lastUsedAt }], totalBytes, maxBytes (GANTRY_CACHE_MAX_BYTES) } (pipelines:read)", permission: "pipelines:read", response: cacheListAnswer }), permit("pipelines", "read", pipelineTarget), validate("param", pipelineParams), async (c) => {
    const { ns, id } = c.req.valid("param");
    const { db, config } = c.get("deps");
    const pipeline = { namespace: ns, id };
    await requirePipeline(db, pipeline);
    const entries = await listCacheEntries(db, pipeline);
    return c.json({ caches: entries.map(cacheEntryJson), totalBytes: entries.reduce((sum, row) => sum + row.size, 0), maxBytes: config.cacheMaxBytes });
  });
