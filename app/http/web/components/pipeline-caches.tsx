// The pipeline page's caches: each entry's key, size and when it was last used, with the total
// against GANTRY_CACHE_MAX_BYTES (past it, the least recently used go first).
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { CacheEntryRow } from "../../../db/repos/cache-entries.ts";
import { formatBytes } from "../../../domain/bytes.ts";
import { runPath } from "../paths.ts";
import { TableHead } from "./table-head.tsx";
import { When } from "./time.tsx";

export function PipelineCaches({ entries, maxBytes, now }: { entries: CacheEntryRow[]; maxBytes: number; now: Date }) {
  if (entries.length === 0) return null;
  const total = entries.reduce((sum, entry) => sum + entry.size, 0);
  return (
    <section class="card pipeline-caches" aria-labelledby="caches">
      <h2 id="caches">Caches</h2>
      <p class="hint">{`${formatBytes(total)} of ${formatBytes(maxBytes)}; the least recently used go first past that.`}</p>
      <table class="list caches">
        <TableHead columns={["Key", { label: "Size", class: "num" }, "Last used", "Saved by"]} />
        <tbody>
          {entries.map((entry) => (
            <tr>
              <td>
                <code>{entry.key}</code>
              </td>
              <td class="num">{formatBytes(entry.size)}</td>
              <td>
                <When date={entry.lastUsedAt} now={now} />
              </td>
              <td>
                <a href={runPath({ namespace: entry.namespace, pipelineId: entry.pipelineId, id: entry.runId })}>{`run ${entry.runId}`}</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
