// A pipeline's versions: one per distinct content of its file, the current one marked, each
// from a git source with its commit, each with a link to what changed in it.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { VersionRow } from "../../../db/repos/pipelines.ts";
import { commitWebUrl } from "../../../domain/sources.ts";
import { CommitLine } from "./source-parts.tsx";
import { versionDiffPath, type PipelineRef } from "../paths.ts";
import { When } from "./time.tsx";
import { TableHead } from "./table-head.tsx";

const VERSIONS_SHOWN = 20;

export interface VersionsProps {
  pipeline: PipelineRef;
  versions: VersionRow[];
  current: number | null;
  now: Date;
  /** The URL of the pipeline's git source, which links commits. */
  repo?: string | undefined;
}

export function Versions({ pipeline, versions, current, now, repo }: VersionsProps) {
  const shown = versions.slice(0, VERSIONS_SHOWN);
  const withCommits = shown.some((version) => version.origin !== null);
  return (
    <section class="card" aria-labelledby="versions">
      <h2 id="versions">Versions</h2>
      {versions.length === 0 ? (
        <p class="muted">No version yet: the file has never loaded.</p>
      ) : (
        <table class="list versions">
          <TableHead
            columns={[
              "Version",
              withCommits && "Commit",
              { label: "Content hash", class: withCommits ? "wide-only" : undefined },
              "Loaded",
              { label: "Tasks", class: "num" },
              { label: "Changes", hidden: true },
            ]}
          />
          <tbody>
            {shown.map((version) => (
              <tr class={version.version === current ? "current" : undefined}>
                <th scope="row">
                  {version.version}
                  {version.version === current && <span class="badge state-successful">current</span>}
                </th>
                {withCommits && (
                  <td class="version-commit">
                    {version.origin ? (
                      <CommitLine commit={version.origin} url={repo ? commitWebUrl(repo, version.origin.sha) : undefined} />
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                )}
                <td class={withCommits ? "wide-only" : undefined}>
                  <code title={version.hash}>{version.hash.slice(0, 12)}</code>
                </td>
                <td>
                  <When date={version.createdAt} now={now} />
                </td>
                <td class="num">{version.spec.tasks.length}</td>
                <td class="version-diff">
                  <a href={versionDiffPath(pipeline, version.version)}>
                    diff<span class="sr-only">{` of version ${version.version}`}</span>
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {versions.length > shown.length && <p class="hint">{`${versions.length - shown.length} older versions not shown.`}</p>}
    </section>
  );
}
