// Web pages: /pipelines/:ns/:id/runs/:run/logs/search (a run's logs searched on the server)
// and /pipelines/:ns/:id/runs/:run/tasks/:task/lines?around=<n> (a log's lines around one,
// where a search result links). Both need runs:read and logs:read on the pipeline.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Hono } from "hono";
import * as v from "valibot";
import { requireExecution, requireRun } from "../../db/repos/runs.ts";
import { logKeyOf } from "../../db/repos/task-executions.ts";
import { logWindow, searchRunLogs } from "../../stores/log-search.ts";
import type { AppEnv } from "../env.ts";
import { permit, pipelineTarget } from "../middleware/permit.ts";
import { requireSession } from "../middleware/session.ts";
import { lineNumberQuery, logSearchEntries, runParams, taskParams } from "../params.ts";
import { validate } from "../validate.ts";
import { pageSession } from "./page-session.ts";
import { logLinesPath, logSearchPath } from "./paths.ts";
import { LogLinesPage, LogSearchPage } from "./pages/run-log-search.tsx";

/** Matches a results page lists. */
const PAGE_SIZE = 100;
/** Lines a log window shows on each side of its line. */
const REACH = 150;

const pageQuery = v.optional(v.pipe(v.string(), v.regex(/^[1-9]\d{0,5}$/, "must be a page number (1, 2, 3...)"), v.transform(Number)), "1");

export const runLogSearchPages = new Hono<AppEnv>()
  .get(
    "/:ns/:id/runs/:run/logs/search",
    requireSession,
    permit("runs", "read", pipelineTarget),
    permit("logs", "read", pipelineTarget),
    validate("param", runParams),
    validate("query", v.object({ ...logSearchEntries, page: pageQuery })),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run: number } = c.req.valid("param");
      const query = c.req.valid("query");
      const key = { namespace: ns, id, run: number };
      const run = await requireRun(deps.db, key);
      if (query.task !== undefined) requireExecution(run, query.task);
      const tasks = run.tasks.map((task) => task.taskId);
      // Nothing to look for and no filter: the form alone, rather than every line of every log.
      const result =
        query.q === "" && query.only === "all"
          ? undefined
          : await searchRunLogs(deps.logs, key, run, { query: { text: query.q, filter: query.only }, task: query.task, offset: (query.page - 1) * PAGE_SIZE, limit: PAGE_SIZE });
      return c.html(
        <LogSearchPage run={run} session={await pageSession(c, logSearchPath(run, query))} tasks={tasks} query={query} result={result} pageSize={PAGE_SIZE} />,
      );
    },
  )
  .get(
    "/:ns/:id/runs/:run/tasks/:task/lines",
    requireSession,
    permit("runs", "read", pipelineTarget),
    permit("logs", "read", pipelineTarget),
    validate("param", taskParams),
    validate("query", v.object({ around: lineNumberQuery, q: logSearchEntries.q, only: logSearchEntries.only })),
    async (c) => {
      const deps = c.get("deps");
      const { ns, id, run: number, task } = c.req.valid("param");
      const { around, q, only } = c.req.valid("query");
      const key = { namespace: ns, id, run: number };
      const run = await requireRun(deps.db, key);
      const execution = requireExecution(run, task);
      const searched = q !== "" || only !== "all";
      const window = await logWindow(deps.logs.path(logKeyOf(key, execution)), Math.max(1, around - REACH), around + REACH, searched ? { text: q, filter: only } : undefined);
      return c.html(
        <LogLinesPage
          run={run}
          session={await pageSession(c, logLinesPath(run, task, around, { q, only }).replace(/#.*$/, ""))}
          taskId={task}
          around={around}
          window={window}
          query={searched ? { q, only, page: 1 } : undefined}
          reach={REACH}
        />,
      );
    },
  );
