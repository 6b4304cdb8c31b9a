// What changed between two versions of a pipeline: a unified diff per file of the text kept
// with each version (the pipeline file and the local helpers it imports).
import { createTwoFilesPatch } from "diff";

export interface FileDiff {
  path: string;
  status: "added" | "removed" | "changed";
  /** Unified diff text (---/+++ headers, @@ hunks); empty when the version kept no text to compare. */
  patch: string;
  added: number;
  removed: number;
}

/** Files changed from `before` to `after` (path → text), in path order; unchanged files are left out. */
export function diffVersionFiles(before: Record<string, string>, after: Record<string, string>, labels: { before: string; after: string }): FileDiff[] {
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const diffs: FileDiff[] = [];
  for (const path of paths) {
    const old = before[path];
    const now = after[path];
    if (old === now) continue;
    // jsdiff opens with a line of "=" (svn's style); git's unified form starts at "---".
    const patch = createTwoFilesPatch(old === undefined ? "/dev/null" : `a/${path}`, now === undefined ? "/dev/null" : `b/${path}`, old ?? "", now ?? "", labels.before, labels.after, { context: 3 }).replace(/^=+\n/, "");
    let added = 0;
    let removed = 0;
    for (const line of patch.split("\n")) {
      if (line.startsWith("+") && !line.startsWith("+++")) added++;
      else if (line.startsWith("-") && !line.startsWith("---")) removed++;
    }
    diffs.push({ path, status: old === undefined ? "added" : now === undefined ? "removed" : "changed", patch, added, removed });
  }
  return diffs;
}
