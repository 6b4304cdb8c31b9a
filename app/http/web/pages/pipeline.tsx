// One pipeline's page: what it is (its concurrency too, the git source and commit it comes
// from), its load error, its task graph, a form to start a run (its typed inputs, variables,
// the commit to run as of), the run history with a duration chart (queued runs with their place
// in the queue), its triggers and subscriptions, and its versions (with their commits and diffs).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { PipelineRow, VersionRow } from "../../../db/repos/pipelines.ts";
import type { RunWithTasks } from "../../../db/repos/runs.ts";
import type { QueuePlace } from "../../../domain/admission.ts";
import type { ConcurrencySpec } from "../../../domain/concurrency.ts";
import type { PipelineSpec } from "../../../domain/pipeline-spec.ts";
import { DagGraph } from "../components/dag-graph.tsx";
import { DurationChart } from "../components/duration-chart.tsx";
import { Triggers, type SubscriptionView } from "../components/pipeline-triggers.tsx";
import { Versions } from "../components/pipeline-versions.tsx";
import { QueuePlaceNote } from "../components/queue-place.tsx";
import { StateBadge } from "../components/state-badge.tsx";
import { Took, When } from "../components/time.tsx";
import { Trigger } from "../components/trigger.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";
import { objectsPath, pipelinePath, runPath, sourcePath } from "../paths.ts";
import { LoadErrorDetails } from "./pipeline-list.tsx";
import { TableHead } from "../components/table-head.tsx";
import { InputFields, InputProblems } from "../components/input-fields.tsx";
import type { InputProblem } from "../../../domain/run-inputs.ts";
import { runRowKeyString } from "../../../domain/run-key.ts";
import type { LevelCounts } from "../../../domain/sarif.ts";
import { HistoryFindings } from "../components/run-findings.tsx";
import { PipelineCaches } from "../components/pipeline-caches.tsx";
import type { CacheEntryRow } from "../../../db/repos/cache-entries.ts";
import { commitWebUrl } from "../../../domain/sources.ts";
import { CommitLine } from "../components/source-parts.tsx";
import { TaskDurations } from "../components/task-durations.tsx";

/** What the start form holds: the inputs, the declared variables' values and the extra lines, as typed. */
export interface StartForm {
  values: Record<string, string>;
  extra: string;
  /** Typed inputs as the form sent them, by input name (absent: their defaults show). */
  inputs?: Record<string, string>;
  /** What the server found wrong with the inputs, by input name. */
  problems?: InputProblem[];
  /** The commit of its source to run as of, as typed (empty: the current version). */
  commit?: string;
  /** Why that commit cannot be run as of (not synced, ambiguous, before the pipeline existed). */
  commitError?: string;
  error?: string;
}

export interface RunHistory {
  /** Newest first, with their tasks (the task durations table reads them). */
  runs: RunWithTasks[];
  /** The run number the page starts below (?before=), if paging. */
  before?: number;
  /** Whether older runs exist past this page. */
  hasOlder: boolean;
  /** Where the queued runs among them stand, by runRowKeyString(). */
  places: Map<string, QueuePlace>;
  /** Finding counts of the runs whose scans found something, by run number. */
  findings?: Map<number, LevelCounts>;
  /** Cache hits and misses of the runs whose tasks have a cache, by run number. */
  caches?: Map<number, { hits: number; misses: number }>;
}

export interface PipelinePageProps {
  session: PageSession;
  now: Date;
  pipeline: PipelineRow;
  /** The current version, absent while the file has never loaded. */
  version?: VersionRow;
  versions: VersionRow[];
  subscriptions: SubscriptionView[];
  /** Absent when the caller may not read runs. */
  history?: RunHistory;
  /** Present when the caller may start runs. */
  form?: StartForm;
  /** The pipeline's cache entries and their limit. */
  caches?: { entries: CacheEntryRow[]; maxBytes: number };
  /** The URL of the git source it comes from (pipeline.source), which links commits. */
  repo?: string;
  /** The server's public URL, for a pipeline marked public: its badge and the Markdown that shows it. */
  badgeBase?: string;
  /** Where senders reach the webhook receiver: the trigger panel's URLs and examples. */
  hooksBase?: string;
}

/** Form field names for declared variables; the prefix keeps them apart from _csrf and extra. */
export const variableField = (name: string) => `var.${name}`;

/** "at most 1 run at once, in group deploy-${BRANCH}; only the newest queued run waits". */
export function concurrencyText(concurrency: ConcurrencySpec): string {
  const limit = concurrency.limit === undefined ? "no limit on runs at once" : `at most ${concurrency.limit} run${concurrency.limit === 1 ? "" : "s"} at once`;
  const parts = [`${limit}${concurrency.group !== undefined ? `, shared by group ${concurrency.group}` : ""}`];
  if (concurrency.queue === "latest") parts.push("only the newest queued run waits (older ones are superseded)");
  if (concurrency.cancelInProgress) parts.push("a new run cancels the running ones");
  return parts.join("; ");
}

function Facts({ pipeline, version, repo, now }: { pipeline: PipelineRow; version?: VersionRow | undefined; repo?: string | undefined; now: Date }) {
  return (
    <dl class="facts">
      <dt>Namespace</dt>
      <dd>{pipeline.namespace}</dd>
      <dt>ID</dt>
      <dd class="mono">{pipeline.id}</dd>
      {pipeline.source !== null && (
        <>
          <dt>Source</dt>
          <dd>
            <a href={sourcePath(pipeline.source)} class="mono">
              {pipeline.source}
            </a>
            {repo && <span class="muted">{` (${repo})`}</span>}
          </dd>
        </>
      )}
      <dt>File</dt>
      <dd>
        <code>{pipeline.file}</code>
      </dd>
      <dt>Version</dt>
      <dd>{version ? `${version.version} (${version.hash.slice(0, 12)})` : <span class="error">none: the file has never loaded</span>}</dd>
      {version?.origin && (
        <>
          <dt>Commit</dt>
          <dd class="pipeline-commit">
            <CommitLine commit={version.origin} url={repo ? commitWebUrl(repo, version.origin.sha) : undefined} now={now} />
          </dd>
        </>
      )}
      {version && (
        <>
          <dt>Parallelism</dt>
          <dd>{`up to ${version.spec.parallelism} task${version.spec.parallelism === 1 ? "" : "s"} at once`}</dd>
        </>
      )}
      {version?.spec.concurrency && (
        <>
          <dt>Concurrency</dt>
          <dd class="pipeline-concurrency">{concurrencyText(version.spec.concurrency)}</dd>
        </>
      )}
    </dl>
  );
}

function StartRunForm({ pipeline, spec, form, session }: { pipeline: PipelineRow; spec: PipelineSpec; form: StartForm; session: PageSession }) {
  const declared = Object.entries(spec.variables);
  const inputs = spec.inputs ?? [];
  const problems = form.problems ?? [];
  return (
    <section class="card start-run" aria-labelledby="start-run">
      <h2 id="start-run">Start a run</h2>
      <form method="post" action={`${pipelinePath(pipeline)}/runs`}>
        <CsrfField session={session} />
        <InputProblems inputs={inputs} problems={problems} />
        {form.error && (
          <p class="notice problem" role="alert" id="start-error">
            {form.error}
          </p>
        )}
        <InputFields inputs={inputs} values={form.inputs ?? {}} problems={problems} />
        {declared.length === 0 ? (
          inputs.length === 0 && <p class="hint">This pipeline declares no variables.</p>
        ) : (
          <fieldset class="variables">
            <legend>Variables</legend>
            {declared.map(([name, fallback]) => (
              <div class="variable">
                <label for={`var-${name}`}>
                  <code>{name}</code>
                </label>
                <input type="text" id={`var-${name}`} name={variableField(name)} value={form.values[name] ?? fallback} autocomplete="off" spellcheck={false} />
                <p class="hint">{fallback ? `Default: ${fallback}` : "Default: empty"}</p>
              </div>
            ))}
          </fieldset>
        )}
        <label for="extra-variables">Extra variables</label>
        <textarea
          id="extra-variables"
          name="extra"
          rows={3}
          spellcheck={false}
          aria-describedby={form.error ? "extra-hint start-error" : "extra-hint"}
          aria-invalid={form.error ? "true" : undefined}
        >
          {form.extra}
        </textarea>
        <p class="hint" id="extra-hint">
          One <code>NAME=value</code> per line; they override the pipeline's variables for this run.
        </p>
        {pipeline.source !== null && (
          <>
            <label for="run-commit">Commit (optional)</label>
            {form.commitError && (
              <p class="notice problem" role="alert" id="run-commit-error">
                {form.commitError}
              </p>
            )}
            <input
              type="text"
              id="run-commit"
              name="commit"
              value={form.commit ?? ""}
              class="run-commit-field"
              maxlength={40}
              pattern="[0-9a-fA-F]{7,40}"
              autocomplete="off"
              spellcheck={false}
              aria-describedby={form.commitError ? "run-commit-hint run-commit-error" : "run-commit-hint"}
              aria-invalid={form.commitError ? "true" : undefined}
            />
            <p class="hint" id="run-commit-hint">
              A synced commit of source <a href={sourcePath(pipeline.source)}>{pipeline.source}</a> (7 to 40 hex digits) to run the pipeline as of;
              empty runs the current version.
            </p>
          </>
        )}
        <button type="submit">Start run</button>
      </form>
    </section>
  );
}

/** "1 hit", "1 miss", "2 hits, 1 miss": how a run's caches fared. */
function cacheSummary(result: { hits: number; misses: number } | undefined): string {
  if (!result) return "—";
  const part = (count: number, word: string) => (count === 0 ? undefined : `${count} ${word}${count === 1 ? "" : word.endsWith("s") ? "es" : "s"}`);
  return [part(result.hits, "hit"), part(result.misses, "miss")].filter(Boolean).join(", ");
}

function History({ pipeline, history, now }: { pipeline: PipelineRow; history: RunHistory; now: Date }) {
  const base = pipelinePath(pipeline);
  const { runs, before, hasOlder, places } = history;
  const oldest = runs.at(-1);
  // A findings column only for pipelines whose runs found something.
  const findings = history.findings?.size ? history.findings : undefined;
  // A cache column only for pipelines whose tasks use one.
  const caches = history.caches?.size ? history.caches : undefined;
  return (
    <section class="card history" aria-labelledby="history">
      <h2 id="history">Run history</h2>
      {runs.length === 0 ? (
        <p class="muted">{before ? "No older runs." : "No runs yet."}</p>
      ) : (
        <>
          <figure class="duration">
            <DurationChart runs={[...runs].reverse()} now={now} href={(id) => runPath({ namespace: pipeline.namespace, pipelineId: pipeline.id, id })} />
            <figcaption class="hint">{`Runs ${oldest!.id} to ${runs[0]!.id}, oldest on the left; bar height is how long each took.`}</figcaption>
          </figure>
          <table class="list runs">
            <TableHead columns={["Run", "State", findings && "Findings", caches && "Cache", "Trigger", { label: "Started", class: "wide-only" }, { label: "Took", class: "num" }]} />
            <tbody>
              {runs.map((run) => (
                <tr>
                  <th scope="row">
                    <a href={runPath(run)}>
                      <span class="sr-only">Run </span>#{run.id}
                    </a>
                  </th>
                  <td class="history-state">
                    <StateBadge state={run.state} />
                    {run.state === "queued" && <QueuePlaceNote place={places.get(runRowKeyString(run))} />}
                  </td>
                  {findings && (
                    <td class="history-findings">
                      <HistoryFindings run={run} counts={findings.get(run.id)} />
                    </td>
                  )}
                  {caches && <td class="history-cache">{cacheSummary(caches.get(run.id))}</td>}
                  <td>
                    <Trigger trigger={run.trigger} />
                  </td>
                  <td class="wide-only">
                    <When date={run.startedAt ?? run.createdAt} now={now} />
                  </td>
                  <td class="num">
                    <Took start={run.startedAt} end={run.endedAt} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <TaskDurations runs={runs} />
        </>
      )}
      {(before !== undefined || hasOlder) && (
        <nav class="pager" aria-label="Run history pages">
          {before !== undefined && <a href={`${base}#history`}>Newest runs</a>}
          {hasOlder && oldest && <a href={`${base}?before=${oldest.id}#history`}>Older runs</a>}
        </nav>
      )}
    </section>
  );
}

/** A public pipeline's badge, and the Markdown that puts it in a README (linking here). */
function Badge({ pipeline, base }: { pipeline: PipelineRow; base: string }) {
  const path = `/badges/${pipeline.namespace}/${pipeline.id}.svg`;
  const markdown = `[![${pipeline.id}](${base}${path})](${base}/pipelines/${pipeline.namespace}/${pipeline.id})`;
  return (
    <section class="card badge-card" aria-labelledby="badge">
      <h2 id="badge">Badge</h2>
      <p>
        <img src={path} alt={`${pipeline.id}: the state of its last finished run`} height="20" />
      </p>
      <p class="muted">
        This pipeline is public: its file says <code>public: true</code>, so anyone may see the state of its last finished run. For a README (add{" "}
        <code>?branch=main</code> for one branch's runs):
      </p>
      <pre class="snippet">
        <code>{markdown}</code>
      </pre>
    </section>
  );
}

export function PipelinePage({ session, now, pipeline, version, versions, subscriptions, history, form, caches, repo, badgeBase, hooksBase }: PipelinePageProps) {
  const spec = version?.spec;
  const name = spec?.name || pipeline.id;
  return (
    <Page title={name} session={session} section="pipelines">
      <div class="pipelines-area">
        <nav aria-label="Breadcrumb" class="crumbs">
          <a href="/pipelines">Pipelines</a> <span aria-hidden="true">/</span> {pipeline.namespace}
        </nav>
        <h1>
          {name}
          {name !== pipeline.id && <span class="muted mono title-id">{` ${pipeline.namespace}/${pipeline.id}`}</span>}
        </h1>
        {spec?.description && <p class="description">{spec.description}</p>}
        {pipeline.loadError && <LoadErrorDetails error={pipeline.loadError} currentVersion={pipeline.currentVersion} />}
        <section class="card" aria-labelledby="about">
          <h2 id="about" class="sr-only">
            About
          </h2>
          <Facts pipeline={pipeline} version={version} repo={repo} now={now} />
          <p class="actions links">
            <a href={objectsPath(pipeline)}>Objects</a>
            <a href="/secrets">Secrets</a>
            {history && history.runs[0] && <a href={runPath(history.runs[0])}>{`Latest run (#${history.runs[0].id})`}</a>}
          </p>
        </section>
        {spec && (
          <section class="card" aria-labelledby="tasks">
            <h2 id="tasks">{`Tasks (${spec.tasks.length})`}</h2>
            <div class="dag-scroll">
              <DagGraph
                label={`Task graph of ${pipeline.namespace}/${pipeline.id}, version ${version!.version}`}
                tasks={spec.tasks.map((task) => ({ id: task.id, kind: task.kind, needs: task.needs, ...(task.container && { detail: task.container.image }) }))}
              />
            </div>
          </section>
        )}
        {spec && form && <StartRunForm pipeline={pipeline} spec={spec} form={form} session={session} />}
        {history && <History pipeline={pipeline} history={history} now={now} />}
        {caches && <PipelineCaches entries={caches.entries} maxBytes={caches.maxBytes} now={now} />}
        {badgeBase !== undefined && <Badge pipeline={pipeline} base={badgeBase} />}
        <Triggers spec={spec} subscriptions={subscriptions} {...(hooksBase !== undefined && { context: { pipeline, hooksBase, now, mayStart: form !== undefined } })} />
        <Versions pipeline={pipeline} versions={versions} current={pipeline.currentVersion} now={now} repo={repo} />
      </div>
    </Page>
  );
}
