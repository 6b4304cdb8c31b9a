// The run page's artifacts (name with a download link, task, path, size, short sha256) and
// what became of each task's cache (hit, hit by a restore key, miss; saved or not).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ArtifactRow } from "../../../db/repos/artifacts.ts";
import type { ExecutionRow } from "../../../db/repos/runs.ts";
import { formatBytes } from "../../../domain/bytes.ts";
import type { CacheResult } from "../../../domain/task-files.ts";
import { runPath, type RunRef } from "../paths.ts";
import { TableHead } from "./table-head.tsx";

/** Where the page downloads an artifact (a web route behind the session, checked like the API). */
export const artifactPath = (run: RunRef, name: string) => `${runPath(run)}/artifacts/${encodeURIComponent(name)}`;

function cacheText(result: CacheResult): string {
  const found = result.hit === "exact" ? "hit" : result.hit === "prefix" ? `hit by a restore key (${result.restoredKey ?? "?"})` : "miss";
  const saved = result.saved === true ? ", saved" : result.saved === false ? ", not saved" : "";
  return `${found}${saved}`;
}

export function RunArtifacts({ artifacts, tasks, run }: { artifacts: ArtifactRow[]; tasks: ExecutionRow[]; run: RunRef }) {
  const cached = tasks.filter((task) => task.cacheResult);
  if (artifacts.length === 0 && cached.length === 0) return null;
  return (
    <section class="card run-artifacts" aria-labelledby="run-artifacts-title">
      <h2 id="run-artifacts-title">Artifacts and caches</h2>
      {artifacts.length > 0 ? (
        <table class="list artifacts">
          <TableHead columns={["Artifact", "Task", "Path", { label: "Size", class: "num" }, "sha256"]} />
          <tbody>
            {artifacts.map((artifact) => (
              <tr>
                <td>
                  <a href={artifactPath(run, artifact.name)} download={`${artifact.name}.tar`}>
                    {artifact.name}
                    <span class="sr-only">{` (download the ${artifact.kind} as a tar)`}</span>
                  </a>
                </td>
                <td>{artifact.taskId}</td>
                <td>
                  <code>{artifact.path}</code>
                  {artifact.kind === "folder" ? "/" : ""}
                </td>
                <td class="num">{formatBytes(artifact.size)}</td>
                <td>
                  <code title={artifact.sha256}>{artifact.sha256.slice(0, 12)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="hint">No artifacts were stored in this run.</p>
      )}
      {cached.length > 0 && (
        <table class="list caches">
          <TableHead columns={["Task", "Cache key", "Result"]} />
          <tbody>
            {cached.map((task) => (
              <tr>
                <td>{task.taskId}</td>
                <td>
                  <code>{task.cacheResult!.key}</code>
                </td>
                <td class={`cache-${task.cacheResult!.hit}`} title={task.cacheResult!.error ?? ""}>
                  {cacheText(task.cacheResult!)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
