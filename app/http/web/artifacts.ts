// Web routes of a run's downloads under the page session, with the API's permissions:
// /pipelines/:ns/:id/runs/:run/artifacts/:name, an artifact's tar (runs:read, its sha256
// checked), and /pipelines/:ns/:id/runs/:run/logs, every task log as one tar.gz (logs:read).
import { Hono } from "hono";
import * as v from "valibot";
import { ARTIFACT_NAME_PATTERN } from "../../domain/task-files.ts";
import { artifactDownload } from "../artifact-download.ts";
import { runLogsDownload } from "../run-logs-download.ts";
import type { AppEnv } from "../env.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { runParams } from "../params.ts";
import { validate } from "../validate.ts";

const params = v.object({ ...runParams.entries, name: v.pipe(v.string(), v.regex(ARTIFACT_NAME_PATTERN, "must be an artifact name")) });

export const artifactPages = new Hono<AppEnv>()
  .get("/:ns/:id/runs/:run/logs", requireSession, permit("logs", "read", pipelineTarget), validate("param", runParams), async (c) => {
    const { ns, id, run } = c.req.valid("param");
    return runLogsDownload(c.get("deps"), { namespace: ns, id, run });
  })
  .get("/:ns/:id/runs/:run/artifacts/:name", requireSession, permit("runs", "read", pipelineTarget), validate("param", params), async (c) => {
  const { ns, id, run, name } = c.req.valid("param");
  return artifactDownload(c.get("deps"), { namespace: ns, id, run }, name);
});
