// The sources page: where pipelines come from — the local folder first, then each git
// source with its state, head commit and last sync (a live region the page's stream
// re-renders while sources sync) — with Sync now and Delete per source, and a form to add one.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { Child } from "hono/jsx";
import { formatDuration } from "../../../domain/duration.ts";
import { DEFAULT_SOURCE_BRANCH, DEFAULT_SOURCE_PATH } from "../../../domain/sources.ts";
import { ConfirmButton, Notice, Tag } from "../components/admin-forms.tsx";
import { TableHead } from "../components/table-head.tsx";
import { When } from "../components/time.tsx";
import { CsrfField, Page, type PageSession } from "../layouts/page.tsx";
import { CommitLine, failureCount, SourceStateBadge, SyncNotice, type LocalSourceView, type SourceView, type SyncReport } from "../components/source-parts.tsx";
import { sourcePath } from "../paths.ts";

/** The add form as typed (every field as text), and the server's message about it. */
export interface SourceForm {
  name: string;
  repo: string;
  branch: string;
  path: string;
  namespace: string;
  auth: string;
  hookSecret: string;
  pollInterval: string;
  error?: string;
}

export const EMPTY_SOURCE_FORM: SourceForm = {
  name: "",
  repo: "",
  branch: DEFAULT_SOURCE_BRANCH,
  path: DEFAULT_SOURCE_PATH,
  namespace: "",
  auth: "",
  hookSecret: "",
  pollInterval: "1m",
};

export interface SourcesData {
  now: Date;
  /** Absent when the viewer may not read "local". */
  local?: LocalSourceView;
  sources: SourceView[];
}

export interface SourcesPageProps {
  session: PageSession;
  data: SourcesData;
  /** Present when the viewer may add sources. */
  form?: SourceForm;
  notice?: string;
  problem?: string;
  /** What the "Sync now" just asked for came to. */
  sync?: SyncReport;
}

/** "every 1m", or "never (webhooks and Sync now only)". */
export function pollText(ms: number): string {
  return ms === 0 ? "never (webhooks and Sync now only)" : `every ${formatDuration(ms)}`;
}

/** The "Sync now" button: a plain form, so it works without JavaScript; `back` names the page to come back to. */
export function SyncButton({ session, name, back }: { session: PageSession; name: string; back: "list" | "source" }) {
  return (
    <form method="post" action={`${sourcePath(name)}/sync`} class="inline">
      <CsrfField session={session} />
      <input type="hidden" name="back" value={back} />
      <button type="submit" class="small secondary" aria-label={`Sync ${name} now`}>
        Sync now
      </button>
    </form>
  );
}

export function DeleteSourceButton({ session, name }: { session: PageSession; name: string }) {
  return (
    <ConfirmButton
      session={session}
      action={`${sourcePath(name)}/delete`}
      fields={{}}
      label="Delete"
      accessibleLabel={`Delete source ${name}`}
      confirm={`Delete source ${name}? Its pipelines are retired; their runs and versions stay readable.`}
    />
  );
}

function SourceActions({ source, session }: { source: SourceView; session: PageSession }) {
  return (
    <div class="actions">
      <SyncButton session={session} name={source.name} back="list" />
      {source.definedIn === "api" && <DeleteSourceButton session={session} name={source.name} />}
    </div>
  );
}

function SourceRows({ source, session, now, withActions }: { source: SourceView; session: PageSession; now: Date; withActions: boolean }) {
  const failed = source.state === "error" && source.error;
  return (
    <>
      <tr id={`source-${source.name}`} class={failed ? "source-failed" : undefined}>
        <th scope="row">
          <a href={sourcePath(source.name)} class="admin-name mono">
            {source.name}
          </a>{" "}
          {source.definedIn === "config" && <Tag>gantry.toml</Tag>}
        </th>
        <td data-label="Repository" class="source-repo">
          <code>{source.repo}</code>
          <span class="hint source-where">
            {"branch "}
            <code>{source.branch}</code>
            {", folder "}
            <code>{source.path}</code>
          </span>
        </td>
        <td data-label="Namespace" class="mono">
          {source.namespace}
        </td>
        <td data-label="State">
          <SourceStateBadge state={source.state} />
          {source.lastSync && source.lastSync.failures.length > 0 && (
            <a class="source-failures" href={`${sourcePath(source.name)}#last-sync`}>
              {failureCount(source.lastSync.failures.length)}
            </a>
          )}
        </td>
        <td data-label="Head" class="source-head">
          {source.head ? <CommitLine commit={source.head} url={source.headUrl} /> : <span class="muted">not synced yet</span>}
        </td>
        <td data-label="Last sync">
          <When date={source.lastSyncAt} now={now} />
        </td>
        <td data-label="Pipelines" class="num">
          {source.pipelines.length}
        </td>
        {withActions && <td class="admin-row-actions">{source.canWrite && <SourceActions source={source} session={session} />}</td>}
      </tr>
      {failed && (
        <tr class="source-error-row">
          <td colspan={withActions ? 8 : 7}>
            <p class="source-error" role="note">
              <strong>Last sync failed:</strong> {source.error}
            </p>
          </td>
        </tr>
      )}
    </>
  );
}

function LocalRow({ local, session, withActions }: { local: LocalSourceView; session: PageSession; withActions: boolean }) {
  return (
    <tr id="source-local">
      <th scope="row">
        <a href={sourcePath("local")} class="admin-name mono">
          local
        </a>{" "}
        <Tag>folder</Tag>
      </th>
      <td data-label="Folder" class="source-repo">
        <code>{local.path}</code>
        <span class="hint source-where">read on every change</span>
      </td>
      <td data-label="Namespace" class="muted">
        by subfolder
      </td>
      <td data-label="State">
        <SourceStateBadge state="ok" />
      </td>
      <td data-label="Head" class="muted">
        —
      </td>
      <td data-label="Last sync" class="muted">
        —
      </td>
      <td data-label="Pipelines" class="num">
        {local.pipelines.length}
      </td>
      {withActions && <td class="admin-row-actions">{local.canWrite && <SyncButton session={session} name="local" back="list" />}</td>}
    </tr>
  );
}

/** The table the live stream re-renders. */
export function SourcesLive({ data, session }: { data: SourcesData; session: PageSession }) {
  const { local, sources, now } = data;
  const withActions = sources.some((source) => source.canWrite) || local?.canWrite === true;
  if (!local && sources.length === 0) return <p class="muted">No sources you may see.</p>;
  return (
    <>
      <table class="list admin-stack sources">
        <TableHead
          columns={[
            "Name",
            "Repository",
            "Namespace",
            "State",
            "Head commit",
            "Last sync",
            { label: "Pipelines", class: "num" },
            withActions && { label: "Actions", hidden: true },
          ]}
        />
        <tbody>
          {local && <LocalRow local={local} session={session} withActions={withActions} />}
          {sources.map((source) => (
            <SourceRows source={source} session={session} now={now} withActions={withActions} />
          ))}
        </tbody>
      </table>
      {sources.length === 0 && <p class="muted">No git sources yet.</p>}
    </>
  );
}

function Field({ id, label, hint, children }: { id: string; label: string; hint?: string; children?: Child }) {
  return (
    <>
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </>
  );
}

/** Whether the server's message is about this field: its problems are joined by "; ", each starting with the field's key. */
function names(error: string | undefined, field: keyof SourceForm): boolean {
  const prefix = field === "name" ? "Name:" : `${field} `;
  return error?.split("; ").some((part) => part.startsWith(prefix)) ?? false;
}

function AddSourceForm({ session, form }: { session: PageSession; form: SourceForm }) {
  const text = (id: string, name: keyof SourceForm, extra: Record<string, unknown> = {}) => {
    const invalid = names(form.error, name);
    return (
      <input
        id={id}
        name={name}
        type="text"
        value={form[name] ?? ""}
        autocomplete="off"
        spellcheck={false}
        aria-describedby={invalid ? `${id}-hint source-form-error` : `${id}-hint`}
        aria-invalid={invalid ? "true" : undefined}
        {...extra}
      />
    );
  };
  return (
    <section class="card admin-card" aria-labelledby="source-add">
      <h2 id="source-add">Add a source</h2>
      <p class="hint">Gantry syncs the branch now and then on every poll; each commit that changes the folder makes new versions of its pipelines.</p>
      {form.error && (
        <p class="notice problem" role="alert" id="source-form-error">
          {form.error}
        </p>
      )}
      <form method="post" action="/sources" class="admin-form source-form">
        <CsrfField session={session} />
        <Field id="source-name" label="Name" hint="a-z, 0-9 and -; it names the source's hook URL and, by default, its namespace.">
          {text("source-name", "name", { required: true, maxlength: 64, pattern: "[a-z0-9-]{1,64}" })}
        </Field>
        <Field id="source-repo" label="Repository URL" hint="https://, http://, ssh:// or git:// (or git@host:owner/repo.git); no credentials in it.">
          {text("source-repo", "repo", { required: true, maxlength: 2048, placeholder: "https://github.com/owner/repo.git" })}
        </Field>
        <Field id="source-branch" label="Branch" hint={`Default: ${DEFAULT_SOURCE_BRANCH}.`}>
          {text("source-branch", "branch")}
        </Field>
        <Field id="source-path" label="Folder" hint={`The folder of the repository holding pipeline files ("." for the top). Default: ${DEFAULT_SOURCE_PATH}.`}>
          {text("source-path", "path")}
        </Field>
        <Field id="source-namespace" label="Namespace" hint="The namespace of its pipelines. Default: the source's name.">
          {text("source-namespace", "namespace", { maxlength: 64 })}
        </Field>
        <Field id="source-auth" label="Auth secret" hint='Optional: a global secret holding "token" or "user:password" for a private repository.'>
          {text("source-auth", "auth", { maxlength: 128 })}
        </Field>
        <Field id="source-hook-secret" label="Hook secret" hint="Optional: a global secret that signs push notices to POST /hooks/sources/<name>.">
          {text("source-hook-secret", "hookSecret", { maxlength: 128 })}
        </Field>
        <Field id="source-poll" label="Poll interval" hint='How often to look for new commits, like "30s" or "5m"; "off" never polls.'>
          {text("source-poll", "pollInterval", { maxlength: 32 })}
        </Field>
        <button type="submit">Add source</button>
      </form>
    </section>
  );
}

export function SourcesPage({ session, data, form, notice, problem, sync }: SourcesPageProps) {
  return (
    <Page title="Sources" session={session} section="sources">
      <h1>Sources</h1>
      <p class="hint">Where pipelines come from: the local pipelines folder, and git repositories synced into versions labelled with their commits.</p>
      {notice && <Notice kind="ok">{notice}</Notice>}
      {problem && <Notice kind="problem">{problem}</Notice>}
      {sync && <SyncNotice report={sync} />}
      <section class="card admin-card" aria-labelledby="sources-list">
        <h2 id="sources-list">Sources</h2>
        <div id="sources-live" hx-sse:connect="/live/sources" hx-swap="innerMorph">
          <SourcesLive data={data} session={session} />
        </div>
      </section>
      {form && <AddSourceForm session={session} form={form} />}
    </Page>
  );
}
