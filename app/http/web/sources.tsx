// Web pages: /sources (the local folder and the git sources, in a region /live/sources
// re-renders while they sync; add a source, sync one now, delete one) and /sources/:name (its
// settings, pipelines and commits), with the API's permission checks (sources read/write on
// the source's name) and CSRF on every form.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import { may, maySome, requirePermission } from "../../auth/roles.ts";
import { requireSourceRights } from "../../auth/source-rights.ts";
import { listPipelinesOf, listPipelinesOfSources, type PipelineRow } from "../../db/repos/pipelines.ts";
import { getSource, listSourceCommits, listSources, requireSource, settingsOf, type SourceRow } from "../../db/repos/sources.ts";
import { ConflictError, ForbiddenError, GantryError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { idSchema } from "../../domain/ids.ts";
import { commitWebUrl, LOCAL_SOURCE, parseSourceSettings, sourceNameSchema } from "../../domain/sources.ts";
import { statusOf } from "../errors.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { permit } from "../middleware/permit.ts";
import { longRequest } from "../middleware/long-request.ts";
import { requireSession } from "../middleware/session.ts";
import { createWakeup, sse } from "../sse.ts";
import { validate } from "../validate.ts";
import { formText } from "./form.ts";
import { pageSession } from "./page-session.ts";
import { SourcePage } from "./pages/source.tsx";
import type { LocalSourceView, SourcePipelineView, SourceView, SyncReport } from "./components/source-parts.tsx";
import { sourcePath } from "./paths.ts";
import { EMPTY_SOURCE_FORM, SourcesLive, SourcesPage, type SourceForm, type SourcesData, type SourcesPageProps } from "./pages/sources.tsx";

/** At most one re-render of the live region this often, however busy the bus is. */
const RENDER_EVERY_MS = 250;
/** A render this often even without changes, so "2m ago" moves. */
const TICK_MS = 5_000;
const RELEVANT = /^(source|pipeline)\./;
const COMMITS_SHOWN = 50;

const nameParams = v.object({ name: idSchema });
const noticeQuery = v.object({ added: v.optional(idSchema), deleted: v.optional(idSchema) });
const target = (c: Context<AppEnv>) => c.req.param("name") ?? "";

/**
 * Whether the caller may add some source: a sources:write grant on any target (the one typed
 * is checked when the form comes back), as the secrets page offers only writable scopes.
 */
const writesSomeSource = (c: Context<AppEnv>) => maySome(c, "sources", "write");

function pipelineViews(rows: PipelineRow[]): SourcePipelineView[] {
  return rows.map((row) => ({
    namespace: row.namespace,
    id: row.id,
    currentVersion: row.currentVersion,
    ...(row.loadError && { error: row.loadError.issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join("; ") }),
  }));
}

async function pipelinesOf(c: Context<AppEnv>, source: string | null): Promise<SourcePipelineView[]> {
  return pipelineViews(await listPipelinesOf(c.get("deps").db, source));
}

/** `pipelines`: the source's, as listPipelinesOf (or listPipelinesOfSources) reads them. */
function sourceView(c: Context<AppEnv>, row: SourceRow, pipelines: PipelineRow[]): SourceView {
  const deps = c.get("deps");
  const headUrl = row.head ? commitWebUrl(row.repo, row.head.sha) : undefined;
  return {
    name: row.name,
    ...settingsOf(row),
    definedIn: row.definedIn,
    // A sync under way here is known before its first write to the row.
    state: deps.sources.syncing(row.name) ? "syncing" : row.state,
    ...(row.head && { head: row.head }),
    ...(headUrl && { headUrl }),
    ...(row.lastError !== null && { error: row.lastError }),
    lastSyncAt: row.lastSyncAt,
    ...(row.lastSync && { lastSync: row.lastSync }),
    lastCheckedAt: row.lastCheckedAt,
    pipelines: pipelineViews(pipelines),
    canWrite: may(c, "sources", "write", row.name),
  };
}

async function localView(c: Context<AppEnv>): Promise<LocalSourceView> {
  return { path: c.get("deps").config.pipelinesDir, pipelines: await pipelinesOf(c, null), canWrite: may(c, "sources", "write", LOCAL_SOURCE) };
}

/** What the list shows this caller: only the sources it may read, as the API lists them. */
async function loadSources(c: Context<AppEnv>): Promise<SourcesData> {
  const deps = c.get("deps");
  const rows = (await listSources(deps.db)).filter((row) => may(c, "sources", "read", row.name));
  const now = deps.now();
  const local = may(c, "sources", "read", LOCAL_SOURCE) ? await localView(c) : undefined;
  // One query for every listed source's pipelines, not one per source.
  const pipelines = await listPipelinesOfSources(deps.db, rows.map((row) => row.name));
  return {
    now,
    ...(local && { local }),
    sources: rows.map((row) => sourceView(c, row, pipelines.get(row.name) ?? [])),
  };
}

/** The list, or a 403 for a caller who may neither read a source (the local folder included) nor add one. */
async function readableSources(c: Context<AppEnv>): Promise<SourcesData> {
  const data = await loadSources(c);
  if (!data.local && data.sources.length === 0 && !writesSomeSource(c)) {
    throw new ForbiddenError(`token "${c.get("token").name}" lacks permission sources:read`);
  }
  return data;
}

async function renderList(c: Context<AppEnv>, extra: Omit<SourcesPageProps, "session" | "data" | "form"> & { form?: SourceForm }, status: ContentfulStatusCode = 200) {
  const data = await readableSources(c);
  // A page rendered by a POST names its GET page, so the layout's forms come back there.
  const session = await pageSession(c, "/sources");
  const { form, ...rest } = extra;
  const shownForm = writesSomeSource(c) ? (form ?? EMPTY_SOURCE_FORM) : undefined;
  return c.html(<SourcesPage session={session} data={data} {...(shownForm && { form: shownForm })} {...rest} />, status);
}

async function renderSource(c: Context<AppEnv>, name: string, sync?: SyncReport, status: ContentfulStatusCode = 200) {
  const deps = c.get("deps");
  const session = await pageSession(c, sourcePath(name));
  if (name === LOCAL_SOURCE) {
    return c.html(<SourcePage session={session} now={deps.now()} source={{ local: await localView(c) }} commits={[]} {...(sync && { sync })} />, status);
  }
  const row = await requireSource(deps.db, name);
  const commits = (await listSourceCommits(deps.db, name, COMMITS_SHOWN)).map((commit) => {
    const url = commitWebUrl(row.repo, commit.sha);
    return { commit, ...(url && { url }) };
  });
  return c.html(<SourcePage session={session} now={deps.now()} source={sourceView(c, row, await listPipelinesOf(deps.db, name))} commits={commits} {...(sync && { sync })} />, status);
}

/** The form's fields as typed; optional ones left empty take their defaults. */
function typedForm(body: Record<string, unknown>): SourceForm {
  const field = (name: keyof SourceForm) => formText(body[name]).trim();
  return {
    name: field("name"),
    repo: field("repo"),
    branch: field("branch"),
    path: field("path"),
    namespace: field("namespace"),
    auth: field("auth"),
    hookSecret: field("hookSecret"),
    pollInterval: field("pollInterval"),
  };
}

/** The settings as the one source schema reads them (what the API's PUT takes): empty fields left out. */
function settingsInput(form: SourceForm): Record<string, string> {
  const input: Record<string, string> = { repo: form.repo };
  for (const key of ["branch", "path", "namespace", "auth", "hookSecret", "pollInterval"] as const) if (form[key] !== "") input[key] = form[key];
  return input;
}

export const sourcePages = new Hono<AppEnv>()
  .get("/sources", requireSession, async (c) => {
    const query = v.safeParse(noticeQuery, c.req.query());
    let notice: string | undefined;
    if (query.success && query.output.added) notice = `Source ${query.output.added} added; its first sync is under way.`;
    if (query.success && query.output.deleted) notice = `Source ${query.output.deleted} deleted; its pipelines are retired, their runs and versions stay readable.`;
    return renderList(c, { ...(notice && { notice }) });
  })
  .get("/live/sources", requireSession, async (c) => {
    const deps = c.get("deps");
    await readableSources(c);
    const session = await pageSession(c, "/sources");
    return sse(c, async (stream, signal) => {
      const wakeup = createWakeup(signal);
      const unsubscribe = deps.bus.subscribe((message) => {
        if (RELEVANT.test(message.kind)) wakeup.wake();
      });
      let sent = "";
      try {
        while (!signal.aborted) {
          const html = String(await (<SourcesLive data={await loadSources(c)} session={session} />).toString());
          // Identical renders (a pipeline change of no source's count, a quiet tick) are not sent.
          if (html !== sent) {
            await stream.writeSSE({ data: html });
            sent = html;
          }
          // Woken by a change, or after a while anyway; a burst of changes renders once. The
          // pause also lets a sync that just ended leave the manager's "syncing" set first.
          if (await wakeup.sleep(TICK_MS)) await wakeup.pause(RENDER_EVERY_MS);
        }
      } finally {
        unsubscribe();
      }
    });
  })
  .post("/sources", requireSession, requireCsrf, async (c) => {
    const deps = c.get("deps");
    const typed = typedForm(await c.req.parseBody());
    // A caller who may add no source at all learns nothing but the 403.
    if (!writesSomeSource(c)) requirePermission(c, "sources", "write", typed.name || LOCAL_SOURCE);
    const named = v.safeParse(sourceNameSchema, typed.name);
    if (!named.success) return renderList(c, { form: { ...typed, error: `Name: ${named.issues[0].message}` } }, 400);
    const name = named.output;
    requirePermission(c, "sources", "write", name);
    if (await getSource(deps.db, name)) {
      return renderList(c, { form: { ...typed, error: `Name: a source named ${name} already exists (delete it first to add it again)` } }, 409);
    }
    const parsed = parseSourceSettings(name, settingsInput(typed));
    if (!parsed.ok) return renderList(c, { form: { ...typed, error: parsed.message } }, 400);
    try {
      requireSourceRights(c, parsed.settings);
      await deps.sources.save(name, parsed.settings, c.get("token").name);
    } catch (error) {
      if (!(error instanceof ConflictError || error instanceof ValidationError || error instanceof ForbiddenError)) throw error;
      return renderList(c, { form: { ...typed, error: error.message } }, statusOf(error));
    }
    return c.redirect(`/sources?${new URLSearchParams({ added: name })}`, 303);
  })
  .get("/sources/:name", requireSession, permit("sources", "read", target), validate("param", nameParams), async (c) => {
    return renderSource(c, c.req.valid("param").name);
  })
  .post("/sources/:name/sync", requireSession, requireCsrf, permit("sources", "write", target), longRequest, validate("param", nameParams), async (c) => {
    const deps = c.get("deps");
    const { name } = c.req.valid("param");
    const back = formText((await c.req.parseBody()).back) === "source" ? "source" : "list";
    let report: SyncReport;
    let status: ContentfulStatusCode = 200;
    if (name === LOCAL_SOURCE) {
      await deps.loader.scan();
      report = { source: name, rescanned: (await listPipelinesOf(deps.db, null)).length };
    } else {
      await requireSource(deps.db, name);
      try {
        report = { source: name, outcome: await deps.sources.sync(name) };
      } catch (error) {
        // Unreachable remote, wrong credentials, no such branch: said on the page, which also
        // shows the source's error state; a source deleted meanwhile is a 404 like any other.
        if (!(error instanceof GantryError) || error instanceof NotFoundError) throw error;
        report = { source: name, problem: error.message };
        status = statusOf(error);
      }
    }
    return back === "source" ? renderSource(c, name, report, status) : renderList(c, { sync: report }, status);
  })
  .post("/sources/:name/delete", requireSession, requireCsrf, permit("sources", "write", target), validate("param", nameParams), async (c) => {
    const { name } = c.req.valid("param");
    if (name === LOCAL_SOURCE) return renderList(c, { problem: `"${LOCAL_SOURCE}" is the local pipelines folder; it cannot be removed.` }, 400);
    try {
      await c.get("deps").sources.remove(name, c.get("token").name);
    } catch (error) {
      // Defined in gantry.toml: removed there.
      if (!(error instanceof ConflictError)) throw error;
      return renderList(c, { problem: error.message }, 409);
    }
    return c.redirect(`/sources?${new URLSearchParams({ deleted: name })}`, 303);
  });
