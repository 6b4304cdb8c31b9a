// A pipeline's versions: one per distinct content of its file, the current one marked.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { VersionRow } from "../../../db/repos/pipelines.ts";
import { When } from "./time.tsx";
import { TableHead } from "./table-head.tsx";

const VERSIONS_SHOWN = 20;

export function Versions({ versions, current, now }: { versions: VersionRow[]; current: number | null; now: Date }) {
  const shown = versions.slice(0, VERSIONS_SHOWN);
  return (
    <section class="card" aria-labelledby="versions">
      <h2 id="versions">Versions</h2>
      {versions.length === 0 ? (
        <p class="muted">No version yet: the file has never loaded.</p>
      ) : (
        <table class="list">
          <TableHead columns={["Version", "Content hash", "Loaded", { label: "Tasks", class: "num" }]} />
          <tbody>
            {shown.map((version) => (
              <tr class={version.version === current ? "current" : undefined}>
                <th scope="row">
                  {version.version}
                  {version.version === current && <span class="badge state-successful">current</span>}
                </th>
                <td>
                  <code title={version.hash}>{version.hash.slice(0, 12)}</code>
                </td>
                <td>
                  <When date={version.createdAt} now={now} />
                </td>
                <td class="num">{version.spec.tasks.length}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {versions.length > shown.length && <p class="hint">{`${versions.length - shown.length} older versions not shown.`}</p>}
    </section>
  );
}
