// The pipelines page: every pipeline the caller may read, grouped by namespace, with its last
// run and, plainly, any load error (file, path in the object, message).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { PipelineOverview } from "../../../db/repos/run-summaries.ts";
import type { LoadErrorRecord } from "../../../db/schema/pipelines.ts";
import { StateBadge } from "../components/state-badge.tsx";
import { When } from "../components/time.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";
import { pipelinePath, runPath } from "../paths.ts";
import { TableHead } from "../components/table-head.tsx";

export interface PipelineListProps {
  session: PageSession;
  now: Date;
  /** Readable pipelines, sorted by namespace then id. */
  pipelines: PipelineOverview[];
  /** Where pipeline files live, for the empty state. */
  pipelinesDir: string;
}

/** A load error as a list of "path: message" lines under its file. */
export function LoadErrorDetails({ error, currentVersion }: { error: LoadErrorRecord; currentVersion: number | null }) {
  return (
    <div class="notice problem load-error">
      <p class="load-error-summary">
        <strong>{currentVersion === null ? "Never loaded:" : "The file has errors:"}</strong>{" "}
        {currentVersion === null ? "fix the file to run this pipeline." : `runs use the last good version, ${currentVersion}.`}
      </p>
      <p class="load-error-file">
        File <code>{error.file}</code>
      </p>
      <ul class="load-error-issues">
        {error.issues.map((issue) => (
          <li>
            {issue.path ? <code class="issue-path">{issue.path}</code> : <span class="muted">(whole file)</span>}: {issue.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

function LastRun({ pipeline, now }: { pipeline: PipelineOverview; now: Date }) {
  const run = pipeline.lastRun;
  if (!run) return <span class="muted">no runs yet</span>;
  return (
    <span class="last-run">
      <StateBadge state={run.state} />{" "}
      <a href={runPath(run)}>
        <span class="sr-only">{`Run `}</span>#{run.id}
      </a>{" "}
      <When date={run.startedAt ?? run.createdAt} now={now} />
    </span>
  );
}

function NamespaceTable({ namespace, pipelines, now }: { namespace: string; pipelines: PipelineOverview[]; now: Date }) {
  const headingId = `ns-${namespace}`;
  return (
    <section class="card" aria-labelledby={headingId}>
      <h2 id={headingId}>
        <span class="muted">namespace</span> {namespace}
      </h2>
      <table class="list pipeline-list">
        <TableHead
          columns={[
            { label: "Pipeline", class: "col-pipeline" },
            { label: "Description", class: "wide-only" },
            { label: "Last run", class: "col-last-run" },
          ]}
        />
        <tbody>
          {pipelines.map((pipeline) => (
            <>
              <tr class={pipeline.loadError ? "has-error" : undefined}>
                <th scope="row" class="pipeline-name">
                  <a href={pipelinePath(pipeline)}>{pipeline.name}</a>
                  {pipeline.name !== pipeline.id && <span class="muted mono pipeline-id">{pipeline.id}</span>}
                  {(pipeline.deletedAt || pipeline.loadError) && (
                    <span class="pipeline-flags">
                      {pipeline.deletedAt && <span class="badge state-cancelled">file deleted</span>}
                      {pipeline.loadError && (
                        <span class="badge state-failed">
                          <span aria-hidden="true">⚠</span> load error
                        </span>
                      )}
                    </span>
                  )}
                </th>
                <td class="wide-only description">{pipeline.description || <span class="muted">—</span>}</td>
                <td>
                  <LastRun pipeline={pipeline} now={now} />
                </td>
              </tr>
              {pipeline.loadError && (
                <tr class="load-error-row">
                  <td colspan={3}>
                    <LoadErrorDetails error={pipeline.loadError} currentVersion={pipeline.currentVersion} />
                  </td>
                </tr>
              )}
            </>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function PipelineListPage({ session, now, pipelines, pipelinesDir }: PipelineListProps) {
  const namespaces = new Map<string, PipelineOverview[]>();
  for (const pipeline of pipelines) {
    const group = namespaces.get(pipeline.namespace);
    if (group) group.push(pipeline);
    else namespaces.set(pipeline.namespace, [pipeline]);
  }
  const broken = pipelines.filter((pipeline) => pipeline.loadError).length;
  return (
    <Page title="Pipelines" session={session} section="pipelines">
      <div class="pipelines-area">
        <h1>Pipelines</h1>
        {pipelines.length === 0 ? (
          <section class="card">
            <p>No pipelines yet.</p>
            <p class="hint">
              Add a pipeline file to <code>{pipelinesDir}</code> (a subfolder makes a namespace); it shows up here as soon as it is saved.
            </p>
          </section>
        ) : (
          <p class="muted">
            {`${pipelines.length} pipeline${pipelines.length === 1 ? "" : "s"} in ${namespaces.size} namespace${namespaces.size === 1 ? "" : "s"}`}
            {broken > 0 && <span class="error">{` · ${broken} with load errors`}</span>}
          </p>
        )}
        {[...namespaces].map(([namespace, group]) => (
          <NamespaceTable namespace={namespace} pipelines={group} now={now} />
        ))}
      </div>
    </Page>
  );
}
