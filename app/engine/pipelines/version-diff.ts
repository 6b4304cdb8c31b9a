// The diff between two stored versions of a pipeline (by default a version and the one
// before it), for the API, the CLI and the pipeline page.
import type { Db } from "../../db/client.ts";
import { getVersion, type VersionRow } from "../../db/repos/pipelines.ts";
import { NotFoundError } from "../../domain/errors.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { FileDiff } from "../../domain/version-diff.ts";

export interface VersionDiff {
  from: number | null;
  to: number;
  /** Versions stored before diffs were kept have no text: the diff cannot be shown. */
  complete: boolean;
  files: FileDiff[];
}

/** How a version is named in a diff's headers: its number, and its commit when it has one. */
const label = (row: VersionRow) => `version ${row.version}${row.origin ? ` (${row.origin.sha.slice(0, 12)})` : ""}`;

export async function versionDiff(db: Db, key: PipelineKey, version: number, against?: number): Promise<VersionDiff> {
  const to = await getVersion(db, key, version);
  if (!to) throw new NotFoundError(`version ${version} of ${key.namespace}/${key.id} not found`);
  const fromNumber = against ?? (version > 1 ? version - 1 : undefined);
  const from = fromNumber === undefined ? undefined : await getVersion(db, key, fromNumber);
  if (fromNumber !== undefined && !from) throw new NotFoundError(`version ${fromNumber} of ${key.namespace}/${key.id} not found`);
  const complete = to.files !== null && (from === undefined || from.files !== null);
  return {
    from: from?.version ?? null,
    to: to.version,
    complete,
    // The diff library loads on the first diff asked for, not with every server.
    files: complete ? (await import("../../domain/version-diff.ts")).diffVersionFiles(from?.files ?? {}, to.files ?? {}, { before: from ? label(from) : "nothing", after: label(to) }) : [],
  };
}
