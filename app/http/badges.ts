// GET /badges/<ns>/<id>.svg: the state of a pipeline's last finished run as a badge, for
// READMEs. Only a pipeline whose file says `public: true` has one; for any other (or none)
// the answer is the same 404, so it says nothing about what exists. No token: a badge is
// meant for anyone. `?branch=main`: only runs of that branch (GANTRY_GITHUB_REF or REF is
// refs/heads/main, or REF is main).
import { Hono } from "hono";
import * as v from "valibot";
import { currentSpec } from "../db/repos/pipelines.ts";
import { lastFinishedRun } from "../db/repos/runs.ts";
import { badgeSvg, type BadgeState } from "../domain/badge.ts";
import { ID_PATTERN } from "../domain/ids.ts";
import type { AppEnv } from "./env.ts";
import { errorResponse } from "./errors.ts";
import { validate } from "./validate.ts";

/** Short: a README shows a new state within a minute, and a CDN in front still helps. */
const CACHE_CONTROL = "public, max-age=60, s-maxage=60";

const params = v.object({
  ns: v.pipe(v.string(), v.regex(ID_PATTERN, "must be a namespace")),
  file: v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,64}\.svg$/, "must be <pipeline id>.svg")),
});
const query = v.object({ branch: v.optional(v.pipe(v.string(), v.regex(/^[\w./-]{1,200}$/, "must be a branch name"))) });

export const badges = new Hono<AppEnv>().get("/:ns/:file", validate("param", params), validate("query", query), async (c) => {
  const { db } = c.get("deps");
  const { ns, file } = c.req.valid("param");
  const { branch } = c.req.valid("query");
  const key = { namespace: ns, id: file.slice(0, -".svg".length) };
  // One query for a missing pipeline and a private one alike: neither answers sooner.
  const spec = await currentSpec(db, key);
  if (!spec?.public) return errorResponse(c, 404, "not_found", `no badge for ${key.namespace}/${key.id}: only a pipeline marked public: true has one`);
  const refs = branch === undefined ? undefined : branch.startsWith("refs/") ? [branch] : [`refs/heads/${branch}`, branch];
  const run = await lastFinishedRun(db, key, refs);
  const svg = badgeSvg(key.id, (run?.state as BadgeState | undefined) ?? "none");
  const etag = `"${Bun.hash(svg).toString(36)}"`;
  const headers = { "content-type": "image/svg+xml; charset=utf-8", "cache-control": CACHE_CONTROL, etag };
  if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
  return c.body(svg, 200, headers);
});
