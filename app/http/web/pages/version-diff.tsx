// What changed in a version of a pipeline: a unified diff per file (the pipeline file and the
// local helpers it imports) against the version before it or one picked from the list, each
// line coloured and still marked +, - or space for whoever cannot tell the colours apart.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { PipelineRow, VersionRow } from "../../../db/repos/pipelines.ts";
import type { FileDiff } from "../../../domain/version-diff.ts";
import { commitWebUrl } from "../../../domain/sources.ts";
import type { VersionDiff } from "../../../engine/pipelines/version-diff.ts";
import { truncate } from "../components/text.ts";
import { Page, type PageSession } from "../layouts/page.tsx";
import { pipelinePath, versionDiffPath } from "../paths.ts";
import { CommitLine } from "../components/source-parts.tsx";

export interface VersionDiffPageProps {
  session: PageSession;
  now: Date;
  pipeline: PipelineRow;
  diff: VersionDiff;
  /** Every version of the pipeline, newest first: the ones to compare against. */
  versions: VersionRow[];
  /** The URL of the pipeline's source, which links commits. */
  repo?: string;
}

type LineKind = "add" | "del" | "hunk" | "note" | "context";

function kindOf(line: string): LineKind {
  if (line.startsWith("@@")) return "hunk";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  if (line.startsWith("\\")) return "note";
  return "context";
}

/** The patch's lines from its first hunk on: the ---/+++ headers are said by the file's header instead. */
export function patchLines(patch: string): { kind: LineKind; text: string }[] {
  const lines = patch.split("\n");
  const first = lines.findIndex((line) => line.startsWith("@@"));
  if (first < 0) return [];
  const body = lines.slice(first);
  // The patch ends with a newline: no empty last line.
  if (body.at(-1) === "") body.pop();
  return body.map((text) => ({ kind: kindOf(text), text }));
}

function VersionLabel({ row, repo, now }: { row: VersionRow; repo?: string | undefined; now: Date }) {
  return (
    <>
      <strong>{`version ${row.version}`}</strong>
      {row.origin && (
        <>
          {" — commit "}
          <CommitLine commit={row.origin} url={repo ? commitWebUrl(repo, row.origin.sha) : undefined} now={now} />
        </>
      )}
    </>
  );
}

function FileSection({ file, index }: { file: FileDiff; index: number }) {
  const lines = patchLines(file.patch);
  const id = `diff-file-${index}`;
  return (
    <section class="card diff-file" aria-labelledby={id}>
      <h2 id={id} class="diff-file-head">
        <code class="diff-path">{file.path}</code>
        <span class={`badge diff-status diff-status-${file.status}`}>{file.status}</span>
        <span class="diff-counts">
          <span class="diff-count-added">{`+${file.added}`}</span> <span class="diff-count-removed">{`−${file.removed}`}</span>
          <span class="sr-only">{` (${file.added} lines added, ${file.removed} removed)`}</span>
        </span>
      </h2>
      {lines.length === 0 ? (
        <p class="muted">No text to compare.</p>
      ) : (
        <pre class="diff" tabindex={0} aria-label={`Changes to ${file.path}`}>
          <code>
            {lines.map((line) => (
              <span class={`diff-line diff-${line.kind}`}>{line.text === "" ? " " : line.text}</span>
            ))}
          </code>
        </pre>
      )}
    </section>
  );
}

function CompareForm({ pipeline, diff, versions }: { pipeline: PipelineRow; diff: VersionDiff; versions: VersionRow[] }) {
  const others = versions.filter((row) => row.version !== diff.to);
  if (others.length === 0) return null;
  return (
    <form method="get" action={versionDiffPath(pipeline, diff.to)} class="diff-compare">
      <label for="diff-against">Compare with</label>
      <div class="diff-compare-row">
        <select id="diff-against" name="against">
          {/* The first version is compared with nothing until another is picked. */}
          {diff.from === null && (
            <option value="" disabled selected>
              pick a version
            </option>
          )}
          {others.map((row) => (
            <option value={String(row.version)} selected={row.version === diff.from}>
              {`version ${row.version}${row.origin ? ` — ${row.origin.sha.slice(0, 7)} ${truncate(row.origin.message, 60)}` : ""}`}
            </option>
          ))}
        </select>
        <button type="submit" class="secondary">
          Compare
        </button>
      </div>
    </form>
  );
}

export function VersionDiffPage({ session, now, pipeline, diff, versions, repo }: VersionDiffPageProps) {
  const to = versions.find((row) => row.version === diff.to);
  const from = diff.from === null ? undefined : versions.find((row) => row.version === diff.from);
  const name = `${pipeline.namespace}/${pipeline.id}`;
  const added = diff.files.reduce((sum, file) => sum + file.added, 0);
  const removed = diff.files.reduce((sum, file) => sum + file.removed, 0);
  return (
    <Page title={`Version ${diff.to} of ${name}: changes`} session={session} section="pipelines">
      <div class="pipelines-area">
        <nav aria-label="Breadcrumb" class="crumbs">
          <a href="/pipelines">Pipelines</a> <span aria-hidden="true">/</span> <a href={pipelinePath(pipeline)}>{name}</a>{" "}
          <span aria-hidden="true">/</span> <a href={`${pipelinePath(pipeline)}#versions`}>versions</a>
        </nav>
        <h1>
          {`Changes in version ${diff.to} `}
          <span class="muted mono title-id">{name}</span>
        </h1>
        <section class="card diff-summary" aria-labelledby="diff-about">
          <h2 id="diff-about" class="sr-only">
            Versions compared
          </h2>
          <dl class="facts">
            <dt>This version</dt>
            <dd>{to ? <VersionLabel row={to} repo={repo} now={now} /> : `version ${diff.to}`}</dd>
            <dt>Compared with</dt>
            <dd>{from ? <VersionLabel row={from} repo={repo} now={now} /> : <span class="muted">nothing: it is the first version</span>}</dd>
            {diff.complete && (
              <>
                <dt>Changed</dt>
                <dd>
                  {`${diff.files.length} file${diff.files.length === 1 ? "" : "s"}, `}
                  <span class="diff-count-added">{`+${added}`}</span> <span class="diff-count-removed">{`−${removed}`}</span>
                </dd>
              </>
            )}
          </dl>
          <CompareForm pipeline={pipeline} diff={diff} versions={versions} />
        </section>
        {!diff.complete ? (
          <p class="notice">One of these versions was stored before Gantry kept the text of pipeline files: there is nothing to compare.</p>
        ) : diff.files.length === 0 ? (
          <p class="notice">No file differs between these versions.</p>
        ) : (
          diff.files.map((file, index) => <FileSection file={file} index={index} />)
        )}
      </div>
    </Page>
  );
}
