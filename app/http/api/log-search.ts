// /api/v1/pipelines/:ns/:id/runs/:run/logs/search: a run's task logs searched on the server
// (every line, not only a page's last ones), for the CLI's `gantry logs --grep` and scripts.
import { Hono } from "hono";
import * as v from "valibot";
import { logSearchAnswer } from "../../api-contract/answers.ts";
import { requirePermission } from "../../auth/roles.ts";
import { requireExecution, requireRun } from "../../db/repos/runs.ts";
import { ValidationError } from "../../domain/errors.ts";
import { parseStoredLine } from "../../stores/logs.ts";
import { searchRunLogs } from "../../stores/log-search.ts";
import type { AppEnv } from "../env.ts";
import { limitQuery, logSearchEntries, runParams } from "../params.ts";
import { validate } from "../validate.ts";
import { doc } from "./route-doc.ts";

const offsetQuery = v.optional(v.pipe(v.string(), v.regex(/^\d{1,9}$/, "must be a whole number"), v.transform(Number)), "0");

export const logSearchApi = new Hono<AppEnv>().get(
  "/:ns/:id/runs/:run/logs/search",
  doc({
    summary:
      "Searches the run's task logs (all of each, not only the last lines): q is matched without case and without ANSI codes; only=stderr keeps stderr lines, only=errors stderr and lines saying error, fail, fatal, panic…; task= one task. Answers the total, the count per task, and the matches from offset (at most limit), each with its task, line number, stream, time and text",
    permission: "logs:read",
    response: logSearchAnswer,
  }),
  validate("param", runParams),
  validate("query", v.object({ ...logSearchEntries, offset: offsetQuery, limit: limitQuery(100, 1000) })),
  async (c) => {
    const { ns, id, run: number } = c.req.valid("param");
    // Before anything is read: a caller without logs:read learns nothing, not even whether the run exists.
    requirePermission(c, "logs", "read", `${ns}/${id}`);
    const query = c.req.valid("query");
    if (query.q === "" && query.only === "all") throw new ValidationError('give q (the text to find), or only=stderr or only=errors');
    const deps = c.get("deps");
    const key = { namespace: ns, id, run: number };
    const run = await requireRun(deps.db, key);
    if (query.task !== undefined) requireExecution(run, query.task);
    const result = await searchRunLogs(deps.logs, key, run, { query: { text: query.q, filter: query.only }, task: query.task, offset: query.offset, limit: query.limit });
    return c.json({
      total: result.total,
      perTask: result.perTask,
      matches: result.matches.map((match) => {
        const { at, text } = parseStoredLine(match.stored);
        return { task: match.task, line: match.line, stream: match.stream, at: at ?? null, text: Bun.stripANSI(text) };
      }),
    });
  },
);
