// /api/v1/sources: git repositories pipelines are loaded from. List, inspect (with the commits
// synced), create or change (PUT), delete, and sync now. The local pipelines folder is listed
// as the source "local" and cannot be changed here.
import { Hono, type Context } from "hono";
import { iso } from "./json.ts";
import * as v from "valibot";
import { may } from "../../auth/roles.ts";
import { requireSourceRights } from "../../auth/source-rights.ts";
import { listPipelinesOf } from "../../db/repos/pipelines.ts";
import { listSourceCommits, listSources, requireSource, type SourceRow } from "../../db/repos/sources.ts";
import { ValidationError } from "../../domain/errors.ts";
import { commitWebUrl, LOCAL_SOURCE, parseSourceSettings, sourceNameSchema, sourceSettingsSchema } from "../../domain/sources.ts";
import type { SyncOutcome } from "../../engine/sources/sync-source.ts";
import type { Deps } from "../../deps.ts";
import type { AppEnv } from "../env.ts";
import { permit } from "../middleware/permit.ts";
import { longRequest } from "../middleware/long-request.ts";
import { validate } from "../validate.ts";
import { sourceAnswer, sourceDetailAnswer, sourceListAnswer, sourceSyncAnswer } from "../../api-contract/answers.ts";
import { doc } from "./route-doc.ts";

const nameParams = v.object({ name: v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,64}$/, "must be 1-64 characters of a-z, 0-9 and -")) });
const target = (c: Context<AppEnv>) => c.req.param("name") ?? "";

export async function sourceJson(deps: Deps, row: SourceRow) {
  const pipelines = await listPipelinesOf(deps.db, row.name);
  const url = row.head ? commitWebUrl(row.repo, row.head.sha) : undefined;
  return {
    name: row.name,
    kind: "git" as const,
    repo: row.repo,
    branch: row.branch,
    path: row.path,
    namespace: row.namespace,
    ...(row.auth !== null && { auth: `secret:${row.auth}` }),
    ...(row.hookSecret !== null && { hookSecret: `secret:${row.hookSecret}` }),
    pollInterval: row.pollIntervalMs,
    definedIn: row.definedIn,
    state: deps.sources.syncing(row.name) ? ("syncing" as const) : row.state,
    ...(row.head && { head: { ...row.head, ...(url && { url }) } }),
    ...(row.lastError !== null && { error: row.lastError }),
    lastSyncAt: iso(row.lastSyncAt),
    // What the last sync that got through did (versions made, files that failed, what was left out).
    ...(row.lastSync && { lastSync: row.lastSync }),
    lastCheckedAt: iso(row.lastCheckedAt),
    pipelines: pipelines.map((pipeline) => ({ namespace: pipeline.namespace, id: pipeline.id, file: pipeline.file, ...(pipeline.loadError && { error: pipeline.loadError }) })),
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** The local pipelines folder, shown among the sources. */
async function localJson(deps: Deps) {
  const pipelines = await listPipelinesOf(deps.db, null);
  return {
    name: LOCAL_SOURCE,
    kind: "folder" as const,
    path: deps.config.pipelinesDir,
    state: "ok" as const,
    pipelines: pipelines.map((pipeline) => ({ namespace: pipeline.namespace, id: pipeline.id, file: pipeline.file, ...(pipeline.loadError && { error: pipeline.loadError }) })),
  };
}

export function syncJson(outcome: SyncOutcome) {
  return {
    unchanged: outcome.unchanged,
    ...(outcome.head && { head: outcome.head }),
    commits: outcome.commits,
    loaded: outcome.loaded,
    versions: outcome.versions,
    failures: outcome.failures,
    warnings: outcome.warnings,
  };
}

/** The body of PUT /sources/:name: the settings, checked by the one source schema (every problem named). */
const putBody = v.custom<Record<string, unknown>>((value) => typeof value === "object" && value !== null && !Array.isArray(value), "must be an object like { repo, branch, path, namespace, auth, hookSecret, pollInterval }");

export const sourcesApi = new Hono<AppEnv>()
  .get("/", doc({ summary: "Git sources of pipelines (sources:read), the local folder first as \"local\": state (new|syncing|ok|error), head commit, lastSyncAt, error, pipelines", response: sourceListAnswer }), async (c) => {
    const deps = c.get("deps");
    // A list shows what the caller may read; nothing to deny.
    const rows = (await listSources(deps.db)).filter((row) => may(c, "sources", "read", row.name));
    const listed = await Promise.all(rows.map((row) => sourceJson(deps, row)));
    return c.json({ sources: [...(may(c, "sources", "read", LOCAL_SOURCE) ? [await localJson(deps)] : []), ...listed] });
  })
  .get("/:name", doc({ summary: "One source with its last 50 synced commits (sha, author, message, loaded: whether it changed the folder)", permission: "sources:read", response: sourceDetailAnswer }), permit("sources", "read", target), validate("param", nameParams), async (c) => {
    const deps = c.get("deps");
    const { name } = c.req.valid("param");
    if (name === LOCAL_SOURCE) return c.json({ source: await localJson(deps), commits: [] });
    const row = await requireSource(deps.db, name);
    const commits = await listSourceCommits(deps.db, name, 50);
    return c.json({
      source: await sourceJson(deps, row),
      commits: commits.map((commit) => {
        const url = commitWebUrl(row.repo, commit.sha);
        return {
          sha: commit.sha,
          author: commit.author,
          message: commit.message,
          committedAt: commit.committedAt,
          loaded: commit.loaded,
          syncedAt: iso(commit.syncedAt),
          ...(url && { url }),
        };
      }),
    });
  })
  .put("/:name", doc({ summary: "Create (201) or change (200) a source (sources:write); it syncs in the background. Sources in gantry.toml answer 409", permission: "sources:write", success: [201, 200], body: sourceSettingsSchema("{name}"), response: sourceAnswer }), permit("sources", "write", target), validate("param", nameParams), validate("json", putBody, { document: false }), async (c) => {
    const deps = c.get("deps");
    const { name } = c.req.valid("param");
    const named = v.safeParse(sourceNameSchema, name);
    if (!named.success) throw new ValidationError(named.issues[0].message);
    const parsed = parseSourceSettings(name, c.req.valid("json"));
    if (!parsed.ok) throw new ValidationError(parsed.message);
    requireSourceRights(c, parsed.settings);
    const { source, created } = await deps.sources.save(name, parsed.settings, c.get("token").name);
    return c.json({ source: await sourceJson(deps, source) }, created ? 201 : 200);
  })
  .delete("/:name", doc({ summary: "Delete a source: its pipelines are retired (runs and versions stay readable)", permission: "sources:write", success: 204 }), permit("sources", "write", target), validate("param", nameParams), async (c) => {
    const { name } = c.req.valid("param");
    if (name === LOCAL_SOURCE) throw new ValidationError(`"${LOCAL_SOURCE}" is the local pipelines folder; it cannot be removed`);
    await c.get("deps").sources.remove(name, c.get("token").name);
    return c.body(null, 204);
  })
  .post("/:name/sync", doc({ summary: "Sync now and answer when done: { source, sync: { unchanged, head, commits, loaded, versions, failures, warnings } }; 502 upstream_failed when the repository cannot be reached (its last good versions stay)", permission: "sources:write", response: sourceSyncAnswer }), permit("sources", "write", target), longRequest, validate("param", nameParams), async (c) => {
    const deps = c.get("deps");
    const { name } = c.req.valid("param");
    if (name === LOCAL_SOURCE) {
      await deps.loader.scan();
      return c.json({ source: await localJson(deps) });
    }
    const outcome = await deps.sources.sync(name);
    return c.json({ source: await sourceJson(deps, await requireSource(deps.db, name)), sync: syncJson(outcome) });
  });
