// Web page: /pipelines/:ns/:id/versions/:version/diff (?against=<version>): what changed in a
// version of a pipeline, file by file (pipelines:read, as the API's diff).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import * as v from "valibot";
import { listVersions, requirePipeline } from "../../db/repos/pipelines.ts";
import { getSource } from "../../db/repos/sources.ts";
import { runNumberSchema } from "../../domain/ids.ts";
import { versionDiff } from "../../engine/pipelines/version-diff.ts";
import type { AppEnv } from "../env.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { pipelineParams } from "../params.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { VersionDiffPage } from "./pages/version-diff.tsx";

const diffParams = v.object({ ...pipelineParams.entries, version: runNumberSchema });
const diffQuery = v.object({ against: v.optional(runNumberSchema) });

export const versionDiffPages = new Hono<AppEnv>().get(
  "/:ns/:id/versions/:version/diff",
  requireSession,
  // Before the parameters are read: a caller without the permission learns nothing but the 403.
  permit("pipelines", "read", pipelineTarget),
  validate("param", diffParams),
  validate("query", diffQuery),
  async (c) => {
    const deps = c.get("deps");
    const { ns, id, version } = c.req.valid("param");
    const key = { namespace: ns, id };
    const pipeline = await requirePipeline(deps.db, key);
    const diff = await versionDiff(deps.db, key, version, c.req.valid("query").against);
    const [versions, source] = await Promise.all([listVersions(deps.db, key), pipeline.source === null ? undefined : getSource(deps.db, pipeline.source)]);
    return c.html(
      <VersionDiffPage session={await pageSession(c)} now={deps.now()} pipeline={pipeline} diff={diff} versions={versions} {...(source && { repo: source.repo })} />,
    );
  },
);
