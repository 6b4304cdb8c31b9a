// Web pages: /pipelines (all pipelines by namespace), /pipelines/:ns/:id (one pipeline), and
// starting a run from its form (POST /pipelines/:ns/:id/runs, then on to the run page; typed
// inputs the engine refuses come back beside their fields; a pipeline of a git source may run
// as of one of its synced commits).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";
import { actorOf } from "../../auth/decider.ts";
import { may, requirePermission } from "../../auth/roles.ts";
import { getVersion, listVersions, requirePipeline, type PipelineRow } from "../../db/repos/pipelines.ts";
import { queuePlaces } from "../../db/repos/run-queue.ts";
import { pipelineOverviews } from "../../db/repos/run-summaries.ts";
import { listRuns, type RunWithTasks } from "../../db/repos/runs.ts";
import { listSubscriptions } from "../../db/repos/subscriptions.ts";
import { GantryError, InvalidInputsError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { getSource } from "../../db/repos/sources.ts";
import { statusOf } from "../errors.ts";
import type { InputSpec } from "../../domain/run-inputs.ts";
import { envNameSchema, runNumberSchema } from "../../domain/ids.ts";
import { pipelineParams } from "../params.ts";
import { subscriptionErrors } from "../../extension-host/subscription-status.ts";
import type { AppEnv } from "../env.ts";
import { requireCsrf } from "../middleware/csrf.ts";
import { requireSession } from "../middleware/session.ts";
import { validate } from "../validate.ts";
import { formText, formTexts } from "./form.ts";
import { inputField } from "./components/input-fields.tsx";
import { pageSession } from "./page-session.ts";
import { runPath } from "./paths.ts";
import { PipelineListPage } from "./pages/pipeline-list.tsx";
import { PipelinePage, variableField, type StartForm } from "./pages/pipeline.tsx";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import { findingCountsOfRuns } from "../../db/repos/findings.ts";
import { listCacheEntries } from "../../db/repos/cache-entries.ts";

const HISTORY_PAGE = 50;

const historyQuery = v.object({ before: v.optional(runNumberSchema) });

/** The pipeline named by the path, or a 404 (a malformed id cannot name one either). */
async function pipelineOfPath(c: Context<AppEnv>): Promise<{ key: PipelineKey; pipeline: PipelineRow }> {
  const params = v.safeParse(pipelineParams, { ns: c.req.param("ns"), id: c.req.param("id") });
  if (!params.success) throw new NotFoundError(`no pipeline ${c.req.param("ns")}/${c.req.param("id")}`);
  const key: PipelineKey = { namespace: params.output.ns, id: params.output.id };
  requirePermission(c, "pipelines", "read", `${key.namespace}/${key.id}`);
  return { key, pipeline: await requirePipeline(c.get("deps").db, key) };
}

/**
 * Run variables from the form: declared ones only where they differ from the pipeline's value
 * (the pipeline's own value applies anyway), then the NAME=value lines, which win.
 */
export function parseStartForm(declared: Record<string, string>, values: Record<string, string>, extra: string): { variables: Record<string, string> } | { error: string } {
  const variables: Record<string, string> = {};
  for (const [name, fallback] of Object.entries(declared)) {
    const value = values[name];
    if (value !== undefined && value !== fallback) variables[name] = value;
  }
  const lines = extra.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `Extra variables, line ${index + 1}`;
    const equals = line.indexOf("=");
    if (equals < 0) return { error: `${where}: "${line}" has no "="; write NAME=value.` };
    const name = line.slice(0, equals).trim();
    const checked = v.safeParse(envNameSchema, name);
    if (!checked.success) return { error: `${where}: "${name}" ${checked.issues[0].message}.` };
    variables[name] = raw.slice(raw.indexOf("=") + 1);
  }
  return { variables };
}

/**
 * The typed inputs as the form sent them, by name: the last value of each declared input's
 * field (a checked box's "true" after its hidden "false"). Fields of undeclared inputs are
 * ignored: the form only has declared ones, and a version changed since leaves old ones behind.
 */
export function inputsOfForm(inputs: readonly InputSpec[], body: Record<string, unknown>): Record<string, string> {
  const typed: Record<string, string> = {};
  for (const input of inputs) {
    const value = formTexts(body[inputField(input.name)]).at(-1);
    if (value !== undefined) typed[input.name] = value;
  }
  return typed;
}

interface RenderOptions {
  /** The history page's cursor (?before=). */
  before?: number;
  /** The start form as typed, on an error. */
  form?: StartForm;
  status?: ContentfulStatusCode;
}

async function renderPipeline(c: Context<AppEnv>, key: PipelineKey, pipeline: PipelineRow, { before, form, status = 200 }: RenderOptions = {}) {
  const deps = c.get("deps");
  const { db } = deps;
  const target = `${key.namespace}/${key.id}`;
  const readsRuns = may(c, "runs", "read", target);
  const [versions, subscriptionRows, runs, source] = await Promise.all([
    listVersions(db, key),
    listSubscriptions(db, { pipeline: key }),
    readsRuns ? listRuns(db, key, { limit: HISTORY_PAGE + 1, ...(before !== undefined && { before }) }) : undefined,
    pipeline.source === null ? undefined : getSource(db, pipeline.source),
  ]);
  // Every version is read anyway, the current one among them.
  const version = versions.find((row) => row.version === pipeline.currentVersion);
  const errorOf = await subscriptionErrors(deps, subscriptionRows);
  const subscriptions = subscriptionRows.map((row) => {
    const error = errorOf(row);
    return error ? { row, error } : { row };
  });
  const shown = runs?.slice(0, HISTORY_PAGE);
  const history = shown && {
    runs: shown,
    hasOlder: runs!.length > HISTORY_PAGE,
    places: await queuePlaces(db, shown),
    findings: await findingCountsOfRuns(db, key, shown.map((run) => run.id)),
    caches: cacheResultsOf(shown),
    ...(before !== undefined && { before }),
  };
  const startForm = may(c, "runs", "write", target) ? (form ?? { values: {}, extra: "" }) : undefined;
  return c.html(
    <PipelinePage
      session={await pageSession(c)}
      now={deps.now()}
      pipeline={pipeline}
      {...(version && { version })}
      versions={versions}
      subscriptions={subscriptions}
      {...(history && { history })}
      {...(startForm && { form: startForm })}
      caches={{ entries: await listCacheEntries(db, key), maxBytes: deps.config.cacheMaxBytes }}
      {...(source && { repo: source.repo })}
      {...(version?.spec.public && { badgeBase: deps.urls.api })}
      {...(deps.urls.hooks && { hooksBase: deps.urls.hooks })}
    />,
    status,
  );
}

/** How the caches of these runs' tasks fared, by run number; from the executions listed with them. */
function cacheResultsOf(runs: readonly RunWithTasks[]): Map<number, { hits: number; misses: number }> {
  const results = new Map<number, { hits: number; misses: number }>();
  for (const run of runs) {
    for (const task of run.tasks) {
      if (!task.cacheResult) continue;
      const entry = results.get(run.id) ?? { hits: 0, misses: 0 };
      if (task.cacheResult.hit === "miss") entry.misses++;
      else entry.hits++;
      results.set(run.id, entry);
    }
  }
  return results;
}

export const pipelinePages = new Hono<AppEnv>()
  .get("/", requireSession, async (c) => {
    const deps = c.get("deps");
    const pipelines = (await pipelineOverviews(deps.db)).filter((row) => may(c, "pipelines", "read", `${row.namespace}/${row.id}`));
    return c.html(<PipelineListPage session={await pageSession(c)} now={deps.now()} pipelines={pipelines} pipelinesDir={deps.config.pipelinesDir} />);
  })
  .get("/:ns/:id", requireSession, validate("query", historyQuery), async (c) => {
    const { key, pipeline } = await pipelineOfPath(c);
    const { before } = c.req.valid("query");
    return renderPipeline(c, key, pipeline, { ...(before !== undefined && { before }) });
  })
  .post("/:ns/:id/runs", requireSession, requireCsrf, async (c) => {
    const deps = c.get("deps");
    const { key, pipeline } = await pipelineOfPath(c);
    requirePermission(c, "runs", "write", `${key.namespace}/${key.id}`);
    // Every value of a repeated field: a checkbox comes after its hidden "false".
    const body = await c.req.parseBody({ all: true });
    const version = pipeline.currentVersion === null ? undefined : await getVersion(deps.db, key, pipeline.currentVersion);
    const declared = version?.spec.variables ?? {};
    const values: Record<string, string> = {};
    for (const name of Object.keys(declared)) {
      const value = formTexts(body[variableField(name)]).at(-1);
      if (value !== undefined) values[name] = value;
    }
    const inputs = inputsOfForm(version?.spec.inputs ?? [], body);
    const extra = formText(formTexts(body.extra).at(-1));
    const commit = formText(formTexts(body.commit).at(-1)).trim();
    const typed = { values, extra, inputs, ...(commit && { commit }) };
    const parsed = parseStartForm(declared, values, extra);
    if ("error" in parsed) return renderPipeline(c, key, pipeline, { form: { ...typed, error: parsed.error }, status: 400 });
    let pinned: { version: number; commit: string } | undefined;
    try {
      // As of a synced commit of its source: the version that commit left current (the API's --commit).
      if (commit) pinned = await deps.sources.pin(pipeline, commit.toLowerCase());
    } catch (error) {
      if (!(error instanceof GantryError)) throw error;
      return renderPipeline(c, key, pipeline, { form: { ...typed, commitError: `Commit: ${error.message}` }, status: statusOf(error) });
    }
    let run;
    try {
      run = await deps.orchestrator.startRun(key, {
        ...(pinned && { pinned }),
        variables: parsed.variables,
        // As typed: the engine converts them by their schemas and checks them, as for the CLI's -i.
        inputs,
        inputsFrom: "text",
        actor: await actorOf(deps.db, c.get("token")),
        trigger: { kind: "web", by: c.get("token").name },
      });
    } catch (error) {
      // Each problem beside its field, the values kept.
      if (error instanceof InvalidInputsError) return renderPipeline(c, key, pipeline, { form: { ...typed, problems: [...error.problems] }, status: 400 });
      // The orchestrator has the last word on variables (e.g. a NUL character): show it on the form.
      if (!(error instanceof ValidationError)) throw error;
      return renderPipeline(c, key, pipeline, { form: { ...typed, error: error.message }, status: 400 });
    }
    return c.redirect(runPath(run), 303);
  });
