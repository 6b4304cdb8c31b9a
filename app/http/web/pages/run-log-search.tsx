// Searching a run's logs: the form (on the run page and atop the results), the results page
// (the count, per-task counts, each matching line linking to its place in its log, pages of
// results), and the page of a log's lines around one line, which marks the search's matches
// and links to the previous and next one. Plain links and GET forms: all of it works without
// script, on logs far longer than the run page shows.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { raw } from "hono/html";
import type { LogFilter } from "../../../domain/log-query.ts";
import type { LogWindow, RunLogSearch } from "../../../stores/log-search.ts";
import { logLinesHtml, matchedLineHtml } from "../components/log-view.tsx";
import { taskSectionId } from "../components/run-tasks.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";
import { logLinesPath, logSearchPath, pipelinePath, rawLogPath, runPath, type RunRef } from "../paths.ts";

export interface LogSearchQuery {
  q: string;
  only: LogFilter;
  task?: string | undefined;
  page: number;
}

const FILTER_WORDS: Record<LogFilter, string> = { all: "All lines", stderr: "Stderr only", errors: "Errors and stderr" };

/** The search form: text, one task or all, and the filter. */
export function LogSearchForm({ run, tasks, query }: { run: RunRef; tasks: string[]; query?: LogSearchQuery | undefined }) {
  return (
    <form class="log-search" method="get" action={logSearchPath(run)} role="search" aria-label="Search the logs of this run">
      <span class="field">
        <label for="log-search-q">Find in logs</label>
        <input id="log-search-q" type="search" name="q" value={query?.q ?? ""} placeholder="text to find" autocomplete="off" />
      </span>
      <span class="field">
        <label for="log-search-task">Task</label>
        <select id="log-search-task" name="task">
          <option value="">all tasks</option>
          {tasks.map((task) => (
            <option value={task} selected={query?.task === task}>
              {task}
            </option>
          ))}
        </select>
      </span>
      <span class="field">
        <label for="log-search-only">Lines</label>
        <select id="log-search-only" name="only">
          {(Object.keys(FILTER_WORDS) as LogFilter[]).map((filter) => (
            <option value={filter} selected={(query?.only ?? "all") === filter}>
              {FILTER_WORDS[filter]}
            </option>
          ))}
        </select>
      </span>
      <button type="submit">Search</button>
    </form>
  );
}

function Crumbs({ run }: { run: RunRef }) {
  const pipelineHref = pipelinePath({ namespace: run.namespace, id: run.pipelineId });
  return (
    <p class="crumbs">
      <a href="/pipelines">Pipelines</a>
      {" / "}
      <a href={pipelineHref}>{`${run.namespace}/${run.pipelineId}`}</a>
      {" / "}
      <a href={runPath(run)}>{`Run ${run.id}`}</a>
    </p>
  );
}

/** "12 matches for "timeout" in 2 tasks" (or the filter's words when there is no text). */
function summary(query: LogSearchQuery, result: RunLogSearch): string {
  const tasks = Object.keys(result.perTask).length;
  const what = query.q ? `for “${query.q}”` : query.only === "stderr" ? "on stderr" : query.only === "errors" ? "that read as errors" : "";
  const filter = query.q && query.only !== "all" ? (query.only === "stderr" ? " on stderr" : " among error lines") : "";
  const where = query.task ? `in ${query.task}` : `in ${tasks} ${tasks === 1 ? "task" : "tasks"}`;
  const count = `${result.total.toLocaleString("en-US")} ${result.total === 1 ? "match" : "matches"}`;
  return `${count} ${what}${filter} ${result.total > 0 || query.task ? where : "in this run's logs"}.`.replace(/ +/g, " ");
}

export interface LogSearchPageProps {
  run: RunRef;
  session: PageSession;
  tasks: string[];
  query: LogSearchQuery;
  /** Absent when the form was sent with nothing to look for. */
  result?: RunLogSearch | undefined;
  pageSize: number;
}

export function LogSearchPage({ run, session, tasks, query, result, pageSize }: LogSearchPageProps) {
  const pages = result ? Math.max(1, Math.ceil(result.total / pageSize)) : 1;
  const first = (query.page - 1) * pageSize + 1;
  const byTask = new Map<string, NonNullable<typeof result>["matches"]>();
  for (const match of result?.matches ?? []) byTask.set(match.task, [...(byTask.get(match.task) ?? []), match]);
  const pageLink = (page: number) => logSearchPath(run, { ...query, page });
  return (
    <Page title={`Search the logs of run ${run.id} of ${run.namespace}/${run.pipelineId}`} session={session} section="pipelines">
      <Crumbs run={run} />
      <h1>Search the logs</h1>
      <LogSearchForm run={run} tasks={tasks} query={query} />
      {!result ? (
        <p class="notice">Type a text to find, or choose stderr or errors to list those lines.</p>
      ) : (
        <>
          <p class="log-search-summary" role="status">
            {summary(query, result)}
            {result.total > pageSize && result.matches.length > 0 && ` Showing ${first.toLocaleString("en-US")}–${Math.min(result.total, first + pageSize - 1).toLocaleString("en-US")}.`}
          </p>
          {!query.task && Object.keys(result.perTask).length > 1 && (
            <ul class="log-search-tasks">
              {Object.entries(result.perTask).map(([task, count]) => (
                <li>
                  <a href={logSearchPath(run, { ...query, task, page: 1 })}>{task}</a>
                  {` ${count.toLocaleString("en-US")}`}
                </li>
              ))}
            </ul>
          )}
          {result.total > 0 && result.matches.length === 0 && (
            <p class="notice">
              {`There is no page ${query.page}: the matches fill ${pages}. `}
              <a href={pageLink(1)}>See the first page</a>
            </p>
          )}
          {[...byTask].map(([task, matches]) => (
            <section class="log-search-task" aria-labelledby={`results-${task}`}>
              <h2 id={`results-${task}`}>
                <a href={`${runPath(run)}#${taskSectionId(task)}`}>{task}</a>
              </h2>
              <div class="log-pane log-results">
                <ol class="log">{raw(matches.map((match) => matchedLineHtml(task, match.line, match.stored, query.q, logLinesPath(run, task, match.line, query))).join(""))}</ol>
              </div>
            </section>
          ))}
          {pages > 1 && (
            <nav class="pager" aria-label="Pages of matches">
              {query.page > 1 ? <a href={pageLink(query.page - 1)} rel="prev">{`← Previous ${pageSize}`}</a> : <span />}
              <span class="muted">{`Page ${query.page} of ${pages}`}</span>
              {query.page < pages ? <a href={pageLink(query.page + 1)} rel="next">{`Next ${pageSize} →`}</a> : <span />}
            </nav>
          )}
        </>
      )}
    </Page>
  );
}

export interface LogLinesPageProps {
  run: RunRef;
  session: PageSession;
  taskId: string;
  /** The line asked for. */
  around: number;
  window: LogWindow;
  /** The search that led here, whose matches are marked; absent when none did. */
  query?: LogSearchQuery | undefined;
  /** How many lines a window shows on each side of its line. */
  reach: number;
}

export function LogLinesPage({ run, session, taskId, around, window, query, reach }: LogLinesPageProps) {
  const last = window.first + window.lines.length - 1;
  const search = query && { q: query.q, only: query.only };
  const lines = (n: number) => logLinesPath(run, taskId, n, search);
  const html = logLinesHtml(taskId, window.lines, window.first, new Set(window.hits));
  const none = window.lines.length === 0;
  // Past the end (or an empty log): the heading says so rather than "lines 3–2".
  const heading = none ? `${taskId}: no line ${around.toLocaleString("en-US")}` : `${taskId}: lines ${window.first.toLocaleString("en-US")}–${last.toLocaleString("en-US")}`;
  const count = `${window.total.toLocaleString("en-US")} ${window.total === 1 ? "line" : "lines"}`;
  return (
    <Page title={`${heading} of run ${run.id} of ${run.namespace}/${run.pipelineId}`} session={session} section="pipelines">
      <Crumbs run={run} />
      <h1>
        {`${heading} `}
        <span class="run-of">{none ? `(the log has ${count})` : `of ${window.total.toLocaleString("en-US")}`}</span>
      </h1>
      <nav class="log-window-nav" aria-label="Move in the log">
        {query && (
          <a href={logSearchPath(run, { ...query, page: 1 })}>{`← All matches for “${query.q || FILTER_WORDS[query.only].toLowerCase()}”`}</a>
        )}
        {query && window.previousMatch !== undefined && (
          <a href={lines(window.previousMatch)} rel="prev">{`Previous match (line ${window.previousMatch.toLocaleString("en-US")})`}</a>
        )}
        {query && window.nextMatch !== undefined && (
          <a href={lines(window.nextMatch)} rel="next">{`Next match (line ${window.nextMatch.toLocaleString("en-US")})`}</a>
        )}
        {query && window.hits.length > 0 && <span class="muted">{`${window.hits.length} ${window.hits.length === 1 ? "match" : "matches"} on this page`}</span>}
        <a href={rawLogPath(run, taskId)}>Raw log</a>
      </nav>
      {!none && window.first > 1 && (
        <p class="log-note">
          <a href={lines(Math.max(1, window.first - reach - 1))}>{`↑ Earlier lines`}</a>
        </p>
      )}
      {none && window.total > 0 && (
        <p class="log-note">
          <a href={lines(window.total)}>{`Go to the last line (${window.total.toLocaleString("en-US")})`}</a>
        </p>
      )}
      <div class="log-pane log-window" role="region" aria-label={none ? `Log of ${taskId}` : `Log of ${taskId}, lines ${window.first} to ${last}`} tabindex={0}>
        {none ? (
          <p class="log-empty">{window.total === 0 ? "The log is empty." : `The log has ${count}: there is no line ${around.toLocaleString("en-US")}.`}</p>
        ) : (
          <ol class="log" start={window.first}>
            {raw(html)}
          </ol>
        )}
      </div>
      {!none && last < window.total && (
        <p class="log-note">
          <a href={lines(Math.min(window.total, last + reach + 1))}>{`↓ Later lines`}</a>
        </p>
      )}
    </Page>
  );
}
