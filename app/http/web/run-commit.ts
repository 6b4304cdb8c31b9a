// The commit a run of a git source's pipeline runs as of, as its page shows it: the sha, the
// repository's page for it, its subject and author (when a sync recorded them) and its source.
// A pinned run's commit may be one that left the folder alone: its version is older than it.
import type { VersionRow } from "../../db/repos/pipelines.ts";
import type { RunRow } from "../../db/repos/runs.ts";
import { findSourceCommits, getSource } from "../../db/repos/sources.ts";
import type { Deps } from "../../deps.ts";
import { commitWebUrl } from "../../domain/sources.ts";
import type { RunCommit } from "./pages/run.tsx";

/** `version`: the run's version, as runVersionOf read it. */
export async function runCommitOf(deps: Deps, run: RunRow, version: VersionRow | undefined): Promise<RunCommit | undefined> {
  if (!run.commit) return undefined;
  // The version says which source made it, even once the pipeline has been retired.
  const origin = version?.origin ?? null;
  const source = origin ? await getSource(deps.db, origin.source) : undefined;
  const [recorded] = source ? await findSourceCommits(deps.db, source.name, run.commit) : [];
  const url = source ? commitWebUrl(source.repo, run.commit) : undefined;
  return {
    sha: run.commit,
    ...(origin && { source: origin.source }),
    ...(url && { url }),
    ...(recorded && { info: { sha: recorded.sha, author: recorded.author, message: recorded.message, committedAt: recorded.committedAt } }),
  };
}
