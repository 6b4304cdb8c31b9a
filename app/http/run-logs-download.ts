// All task logs of a run as one gzip'd tar download (API and web), named after the run.
import { requireRun } from "../db/repos/runs.ts";
import type { Deps } from "../deps.ts";
import type { RunKey } from "../domain/run-key.ts";
import { runLogsArchive, runLogsFileName } from "../stores/run-logs-archive.ts";

export async function runLogsDownload(deps: Deps, key: RunKey): Promise<Response> {
  const run = await requireRun(deps.db, key);
  return new Response(runLogsArchive(deps.logs, key, run), {
    headers: {
      "content-type": "application/gzip",
      "content-disposition": `attachment; filename="${runLogsFileName(key)}"`,
      "cache-control": "no-store",
    },
  });
}
