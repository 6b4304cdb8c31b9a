// The run page: the live summary, approval gates, DAG and task table in one region that a
// stream re-renders, and below it one log section per task; the same stream appends each
// task's new lines. A reused task's section shows the log of the run it ran in; a refused
// decision on a gate is said above the live region, where re-renders leave it; so is the
// commit a run of a git source's pipeline runs as of, which never changes.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ExecutionRow } from "../../../db/repos/runs.ts";
import { ASSET_VERSION } from "../assets.ts";
import type { LogTruncation } from "../../../stores/logs.ts";
import { emptyLogText, LogPane, LogTruncatedNote, paneId } from "../components/log-view.tsx";
import { announcement, RunLive, type RunLiveProps } from "../components/run-live.tsx";
import { gateSectionId, TaskStatusLine, taskSectionId } from "../components/run-tasks.tsx";
import { RunFindings } from "../components/run-findings.tsx";
import type { RunFindings as RunFindingsData } from "../../../db/repos/findings.ts";
import { isFinalRunState } from "../../../domain/states.ts";
import { Page } from "../layouts/page.tsx";
import { RunArtifacts } from "../components/run-artifacts.tsx";
import type { ArtifactRow } from "../../../db/repos/artifacts.ts";
import { logSearchPath, pipelinePath, rawLogPath, runPath, sourcePath, type RunRef } from "../paths.ts";
import { LogSearchForm } from "./run-log-search.tsx";
import type { CommitInfo } from "../../../domain/sources.ts";
import { CommitLine, CommitSha } from "../components/source-parts.tsx";

/** The commit of its source a run runs as of. */
export interface RunCommit {
  sha: string;
  source?: string;
  /** The repository's web page of the commit, when it has one. */
  url?: string;
  /** Subject and author, when a sync recorded the commit. */
  info?: CommitInfo;
}

export interface TaskLog {
  execution: ExecutionRow;
  /** The last lines of the log (at most the page's limit). */
  lines: string[];
  /** Complete lines in the log, shown or not. */
  total: number;
  /** Whether the task may still write: the run's live stream appends its new lines. */
  live: boolean;
  /** What the log lost to its cap, when it did. */
  truncation?: LogTruncation | undefined;
}

export interface RunPageProps extends RunLiveProps {
  /** The stream that re-renders the live region and appends log lines; absent once the run is final. */
  liveUrl?: string;
  /** One per task; absent when the viewer may not read logs. */
  logs?: TaskLog[];
  /** Why a decision asked for from this page was refused (outside the live region, so it stays). */
  decisionError?: { taskId: string; message: string };
  /** The artifacts the run stored (each task's cache result comes with its execution). */
  artifacts?: ArtifactRow[];
  /** What the run's scans found; absent for a run without scans. */
  findings?: RunFindingsData | undefined;
  /** The commit it runs as of; absent for a pipeline of the local folder. */
  commit?: RunCommit | undefined;
}

/** "Version 3 as of commit abc1234 Fix the build — Ada, from source app". */
function RunCommitLine({ version, commit, now }: { version: number; commit: RunCommit; now: Date }) {
  return (
    <p class="run-commit">
      {`Version ${version} as of commit `}
      {commit.info ? <CommitLine commit={commit.info} url={commit.url} now={now} /> : <CommitSha sha={commit.sha} url={commit.url} />}
      {commit.source && (
        <span class="muted">
          {", from source "}
          <a href={sourcePath(commit.source)}>{commit.source}</a>
        </span>
      )}
    </p>
  );
}

/** Says whose log a reused task's pane shows, with a link to that run's section of the task. */
function ReusedLogNote({ execution, run }: { execution: ExecutionRow; run: RunRef }) {
  if (execution.reusedFrom === null) return null;
  const original = { namespace: run.namespace, pipelineId: run.pipelineId, id: execution.reusedFrom };
  return (
    <p class="log-note reused-log-note">
      {"This task was not run again: it succeeded in "}
      <a href={`${runPath(original)}#${taskSectionId(execution.taskId)}`}>{`run ${execution.reusedFrom}`}</a>
      {", and its log below is from that run."}
    </p>
  );
}

function TaskLogSection({ log, run, now, rawHref }: { log: TaskLog; run: RunRef; now: Date; rawHref: string }) {
  const { execution, lines, total } = log;
  const id = taskSectionId(execution.taskId);
  return (
    <section id={id} class="task-log" aria-labelledby={`${id}-title`}>
      <div class="task-log-head">
        <h3 id={`${id}-title`}>{execution.taskId}</h3>
        <TaskStatusLine execution={execution} run={run} now={now} />
        <span class="task-log-links">
          <a href={logSearchPath(run, { task: execution.taskId, only: "errors" })}>
            Errors only<span class="sr-only">{` (log of ${execution.taskId})`}</span>
          </a>
          <a class="raw-log" href={rawHref}>
            Raw log<span class="sr-only">{` of ${execution.taskId}`}</span>
          </a>
        </span>
      </div>
      <ReusedLogNote execution={execution} run={run} />
      <LogTruncatedNote truncation={log.truncation} rawHref={rawHref} />
      {total > lines.length && (
        <p class="log-note">
          {`Showing the last ${lines.length} of ${total} lines. `}
          <a href={rawHref}>Read the whole log</a>
        </p>
      )}
      <div class="log-box">
        <LogPane
          taskId={execution.taskId}
          lines={lines}
          first={total - lines.length + 1}
          live={log.live}
          empty={emptyLogText(execution)}
        />
        <button type="button" class="log-follow small" data-pane={paneId(execution.taskId)} hidden>
          <span class="log-follow-label">{log.live ? "Follow" : "Go to the end"}</span>
          <span class="sr-only">{` (log of ${execution.taskId})`}</span>
        </button>
      </div>
    </section>
  );
}

export function RunPage(props: RunPageProps) {
  const { run, now, session, liveUrl, logs, decisionError, findings, artifacts, commit } = props;
  const pipelineHref = pipelinePath({ namespace: run.namespace, id: run.pipelineId });
  const live = liveUrl ? { "hx-sse:connect": liveUrl, "hx-swap": "innerHTML", "hx-sse:close": "end" } : {};
  return (
    <Page title={`Run ${run.id} of ${run.namespace}/${run.pipelineId}`} session={session} section="pipelines">
      <p class="crumbs">
        <a href="/pipelines">Pipelines</a>
        {" / "}
        <a href={pipelineHref}>{`${run.namespace}/${run.pipelineId}`}</a>
      </p>
      <h1>
        {`Run ${run.id} `}
        <span class="run-of">
          {"of "}
          <a href={pipelineHref}>{`${run.namespace}/${run.pipelineId}`}</a>
        </span>
      </h1>
      {commit && <RunCommitLine version={run.version} commit={commit} now={now} />}
      {/* Outside the re-rendered region so it persists; updates replace only its text. */}
      <p id="run-announce" class="sr-only" aria-live="polite">
        {announcement(run)}
      </p>
      {decisionError && (
        <p class="notice problem" role="alert" id="decision-error">
          {`Could not decide `}
          <a href={`#${gateSectionId(decisionError.taskId)}`}>{decisionError.taskId}</a>
          {`: ${decisionError.message}`}
        </p>
      )}
      <div id="run-live" class="run-live" {...live}>
        <RunLive {...props} />
      </div>
      {findings && <RunFindings data={findings} run={run} linkToLog={logs !== undefined} final={isFinalRunState(run.state)} />}
      {artifacts && <RunArtifacts artifacts={artifacts} tasks={run.tasks} run={run} />}
      <section class="run-logs" aria-labelledby="run-logs-title">
        <h2 id="run-logs-title">Logs</h2>
        {logs && (
          <p class="hint log-times-note">
            Times are UTC. Each line number links to its line.{" "}
            <a href={`${pipelineHref}/runs/${run.id}/logs`} download>
              Download all logs
            </a>{" "}
            (a .tar.gz, one file per task).
          </p>
        )}
        {logs && logs.length > 0 && <LogSearchForm run={run} tasks={logs.map((log) => log.execution.taskId)} />}
        {logs ? (
          logs.map((log) => <TaskLogSection log={log} run={run} now={now} rawHref={rawLogPath(run, log.execution.taskId)} />)
        ) : (
          <p class="notice">Your token may not read the logs of this pipeline (it needs logs:read).</p>
        )}
      </section>
      <script src={`/public/log-view.js?v=${ASSET_VERSION}`} defer></script>
    </Page>
  );
}
