// GET /api/v1/pipelines/:ns/:id/runs/:run/bundle: the bundle of the run's version, the file a
// run() task's runner imports, for a runner that has no copy (a swarm service fetches it with
// the run's bundle token). Only the path stored for that version is read, inside the bundles
// folder, never through a link, and only if its sha256 is still the version's.
import { join } from "node:path";
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { isBundleTokenOf } from "../../auth/bundle-tokens.ts";
import { requirePermission } from "../../auth/roles.ts";
import { getVersion } from "../../db/repos/pipelines.ts";
import { getRunRow } from "../../db/repos/runs.ts";
import type { Deps } from "../../deps.ts";
import { ConflictError, NotFoundError } from "../../domain/errors.ts";
import type { RunKey } from "../../domain/run-key.ts";
import { OutsideRootError, openContained } from "../../stores/contained-path.ts";
import type { AppEnv } from "../env.ts";
import { pipelineTarget } from "../middleware/permit.ts";
import { runParams } from "../params.ts";
import { validate } from "../validate.ts";
import { doc } from "./route-doc.ts";

/**
 * Permission first, before the path is even validated: the run's own bundle token, or
 * pipelines:read on the pipeline (who may read its files' diffs may read the code they
 * bundle to). Any other token gets the 403 naming pipelines:read.
 */
const mayReadBundle = createMiddleware<AppEnv>(async (c, next) => {
  const runKey = `${c.req.param("ns")}/${c.req.param("id")}#${c.req.param("run")}`;
  if (!isBundleTokenOf(c.get("token"), runKey)) requirePermission(c, "pipelines", "read", pipelineTarget(c));
  await next();
});

/** The bundle of the run's version, checked against the version's sha256 before a byte is sent. */
async function bundleOf(deps: Deps, key: RunKey): Promise<Response> {
  const run = await getRunRow(deps.db, key);
  if (!run) throw new NotFoundError(`run ${key.run} of ${key.namespace}/${key.id} not found`);
  const version = await getVersion(deps.db, key, run.version);
  if (!version) throw new NotFoundError(`version ${run.version} of ${key.namespace}/${key.id} not found`);
  const gone = () => new NotFoundError(`the bundle of version ${version.version} of ${key.namespace}/${key.id} is gone (pruned: its runs have ended)`);
  // The loader writes bundles there (the data dir's "bundles"; a restore moves the stored paths along).
  const root = join(deps.config.dataDir, "bundles");
  let file;
  try {
    file = await openContained(root, version.bundlePath);
  } catch (error) {
    if (error instanceof OutsideRootError) throw new ConflictError(`the bundle of version ${version.version} of ${key.namespace}/${key.id} is not served: ${error.message}`);
    throw error;
  }
  if (!file) throw gone();
  let bytes: Buffer;
  try {
    bytes = await file.handle.readFile();
  } finally {
    await file.handle.close();
  }
  const sha256 = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  if (sha256 !== version.hash) {
    throw new ConflictError(`the bundle of version ${version.version} of ${key.namespace}/${key.id} is corrupted (sha256 ${sha256}, not ${version.hash}); it is not served`);
  }
  return new Response(bytes, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "content-length": String(bytes.byteLength),
      "content-disposition": `attachment; filename="${sha256}.js"`,
      "x-checksum-sha256": sha256,
      etag: `"${sha256}"`,
      "cache-control": "private, no-store",
    },
  });
}

export const bundlesApi = new Hono<AppEnv>().get("/:ns/:id/runs/:run/bundle", doc({ summary: "The bundle of the run's version (text/javascript), the code its run() tasks import, checked against the version's sha256 first (x-checksum-sha256; a corrupted one is a 409). For the run's own bundle token (a runner in a swarm service fetches it) or pipelines:read; 404 once pruned", permission: "pipelines:read on the pipeline, or the run's own bundle token", response: { mediaType: "text/javascript", description: "the bundle of the run's version" } }), mayReadBundle, validate("param", runParams), async (c) => {
  const { ns, id, run } = c.req.valid("param");
  return bundleOf(c.get("deps"), { namespace: ns, id, run });
});
