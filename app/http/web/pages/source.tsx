// One source's page: its settings, where its sync stands (and why it failed), the pipelines
// it defines, and the last commits its syncs saw; the local folder's shows its path and pipelines.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { SourceCommitRow } from "../../../db/repos/sources.ts";
import { Tag } from "../components/admin-forms.tsx";
import { TableHead } from "../components/table-head.tsx";
import { When } from "../components/time.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";
import { pipelinePath, versionDiffPath } from "../paths.ts";
import type { LastSync } from "../../../db/schema/sources.ts";
import { CommitLine, CommitSha, SourceStateBadge, SyncFailures, SyncNotice, SyncWarnings, type LocalSourceView, type SourcePipelineView, type SourceView, type SyncReport } from "../components/source-parts.tsx";
import { DeleteSourceButton, pollText, SyncButton } from "./sources.tsx";

export interface SourceCommitView {
  commit: SourceCommitRow;
  url?: string;
}

export interface SourcePageProps {
  session: PageSession;
  now: Date;
  /** A git source, or the local folder. */
  source: SourceView | { local: LocalSourceView };
  /** Newest first; none for the local folder. */
  commits: SourceCommitView[];
  sync?: SyncReport;
}

function Pipelines({ pipelines }: { pipelines: SourcePipelineView[] }) {
  return (
    <section class="card admin-card" aria-labelledby="source-pipelines">
      <h2 id="source-pipelines">{`Pipelines (${pipelines.length})`}</h2>
      {pipelines.length === 0 ? (
        <p class="muted">It defines no pipelines yet.</p>
      ) : (
        <ul class="source-pipelines">
          {pipelines.map((pipeline) => (
            <li>
              <a href={pipelinePath(pipeline)} class="mono">{`${pipeline.namespace}/${pipeline.id}`}</a>
              {pipeline.currentVersion !== null && <span class="muted">{` version ${pipeline.currentVersion}`}</span>}
              {pipeline.error && (
                <p class="error source-pipeline-error">
                  {pipeline.currentVersion === null ? "Its file has never loaded: " : "Its file failed to load at the last change (the last good version runs): "}
                  {pipeline.error}
                </p>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Commits({ commits, now }: { commits: SourceCommitView[]; now: Date }) {
  return (
    <section class="card admin-card" aria-labelledby="source-commits">
      <h2 id="source-commits">Commits</h2>
      {commits.length === 0 ? (
        <p class="muted">No commits synced yet.</p>
      ) : (
        <>
          <p class="hint">{`The last ${commits.length} commits its syncs saw, newest first. A sync loads the pipeline folder as of each commit that changed it, and as of the branch's head; a run can start as of any of them.`}</p>
          <table class="list admin-stack source-commit-list">
            <TableHead columns={["Commit", "Message", "Author", "Committed", "Pipeline folder"]} />
            <tbody>
              {commits.map(({ commit, url }) => {
                const at = new Date(commit.committedAt);
                return (
                  <tr class={commit.loaded ? "commit-loaded" : undefined}>
                    <th scope="row">
                      <CommitSha sha={commit.sha} url={url} />
                    </th>
                    <td data-label="Message" class="commit-message">
                      {commit.message || <span class="muted">(no message)</span>}
                    </td>
                    <td data-label="Author">{commit.author}</td>
                    <td data-label="Committed">{Number.isNaN(at.getTime()) ? <span class="muted">{commit.committedAt}</span> : <When date={at} now={now} />}</td>
                    <td data-label="Pipeline folder">{commit.loaded ? <strong>loaded</strong> : <span class="muted">unchanged</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** What the last sync that got through did, kept on the source until the next one. */
function LastSyncSection({ lastSync, now }: { lastSync: LastSync; now: Date }) {
  const at = new Date(lastSync.at);
  return (
    <section class="card admin-card" aria-labelledby="last-sync">
      <h2 id="last-sync">Last sync</h2>
      <p>
        <When date={Number.isNaN(at.getTime()) ? null : at} now={now} />
        {`: ${lastSync.commits} new commit${lastSync.commits === 1 ? "" : "s"}, ${lastSync.loaded} loaded${lastSync.versions.length === 0 ? "; no new versions" : ""}.`}
      </p>
      {lastSync.versions.length > 0 && (
        <>
          <h3>New versions</h3>
          <ul class="source-pipelines">
            {lastSync.versions.map((made) => {
              const [namespace = "", id = ""] = made.pipeline.split("/");
              return (
                <li>
                  <a href={versionDiffPath({ namespace, id }, made.version)}>{`${made.pipeline} version ${made.version}`}</a>
                  <span class="muted">{` from commit ${made.commit.slice(0, 7)}`}</span>
                </li>
              );
            })}
          </ul>
        </>
      )}
      <SyncFailures failures={lastSync.failures} alert={false} />
      <SyncWarnings warnings={lastSync.warnings} />
    </section>
  );
}

function LocalSourcePage({ session, local, sync }: { session: PageSession; local: LocalSourceView; sync?: SyncReport | undefined }) {
  return (
    <Page title="Source local" session={session} section="sources">
      <nav aria-label="Breadcrumb" class="admin-crumbs">
        <a href="/sources">Sources</a> <span aria-hidden="true">/</span> <span>local</span>
      </nav>
      <h1>
        Source <span class="mono">local</span> <SourceStateBadge state="ok" />
      </h1>
      {sync && <SyncNotice report={sync} />}
      <section class="card admin-card" aria-labelledby="source-facts">
        <h2 id="source-facts">Details</h2>
        <dl class="facts">
          <dt>Kind</dt>
          <dd>the local pipelines folder, read again on every change</dd>
          <dt>Folder</dt>
          <dd>
            <code>{local.path}</code>
          </dd>
          <dt>Namespace</dt>
          <dd>by subfolder ("default" at the top)</dd>
        </dl>
        {local.canWrite && (
          <div class="actions links">
            <SyncButton session={session} name="local" back="source" />
          </div>
        )}
      </section>
      <Pipelines pipelines={local.pipelines} />
    </Page>
  );
}

export function SourcePage({ session, now, source, commits, sync }: SourcePageProps) {
  if ("local" in source) return <LocalSourcePage session={session} local={source.local} sync={sync} />;
  return (
    <Page title={`Source ${source.name}`} session={session} section="sources">
      <nav aria-label="Breadcrumb" class="admin-crumbs">
        <a href="/sources">Sources</a> <span aria-hidden="true">/</span> <span>{source.name}</span>
      </nav>
      <h1>
        Source <span class="mono">{source.name}</span> <SourceStateBadge state={source.state} />
      </h1>
      {sync && <SyncNotice report={sync} />}
      {source.state === "error" && source.error && (
        <p class="notice problem source-error" role="alert">
          <strong>Last sync failed:</strong> {source.error}
          <br />
          <span class="muted">The pipelines keep their last good versions until a sync succeeds.</span>
        </p>
      )}
      <section class="card admin-card" aria-labelledby="source-facts">
        <h2 id="source-facts">Details</h2>
        <dl class="facts">
          <dt>Repository</dt>
          <dd>
            <code>{source.repo}</code>
          </dd>
          <dt>Branch</dt>
          <dd>
            <code>{source.branch}</code>
          </dd>
          <dt>Folder</dt>
          <dd>
            <code>{source.path}</code>
          </dd>
          <dt>Namespace</dt>
          <dd class="mono">{source.namespace}</dd>
          <dt>Credentials</dt>
          <dd>{source.auth ? <>secret <code>{source.auth}</code></> : <span class="muted">none (a public repository)</span>}</dd>
          <dt>Webhook</dt>
          <dd>
            {source.hookSecret ? (
              <>
                <code>{`POST /hooks/sources/${source.name}`}</code>
                {" on the hooks listener, signed with secret "}
                <code>{source.hookSecret}</code>
                {" (X-Gantry-Signature-256)"}
              </>
            ) : (
              <span class="muted">none</span>
            )}
          </dd>
          <dt>Polling</dt>
          <dd>{pollText(source.pollIntervalMs)}</dd>
          <dt>Defined in</dt>
          <dd>{source.definedIn === "config" ? <Tag>gantry.toml</Tag> : "the web UI or the API"}</dd>
          <dt>Head</dt>
          <dd>{source.head ? <CommitLine commit={source.head} url={source.headUrl} now={now} /> : <span class="muted">not synced yet</span>}</dd>
          <dt>Last sync</dt>
          <dd>
            <When date={source.lastSyncAt} now={now} />
          </dd>
          <dt>Last checked</dt>
          <dd>
            <When date={source.lastCheckedAt} now={now} />
          </dd>
        </dl>
        {source.canWrite && (
          // A div, not a p: a form inside a p would end it.
          <div class="actions links">
            <SyncButton session={session} name={source.name} back="source" />
            {source.definedIn === "api" && <DeleteSourceButton session={session} name={source.name} />}
          </div>
        )}
      </section>
      {source.lastSync && <LastSyncSection lastSync={source.lastSync} now={now} />}
      <Pipelines pipelines={source.pipelines} />
      <Commits commits={commits} now={now} />
    </Page>
  );
}
