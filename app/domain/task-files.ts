// What a task hands on and takes in through the server, beside the shared workspace: its
// artifacts (named files or folders, stored with the run), its cache (restored before it
// starts, saved after it succeeds) and the SARIF report of a scan (read into findings).
// The stored forms, and the checks that keep every path inside the run's workspace.

/** `[A-Za-z0-9._-]`, 1-128: an artifact's name, also its file name in the store. */
export const ARTIFACT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Where an artifact a task takes in comes from: a task of this run, or a run of this pipeline before. */
export type ArtifactSource = { task: string } | { run: "latest-successful" | number; name: string };

export interface ArtifactsSpec {
  /** Stored after the task succeeds: name → path in the workspace (a file or a folder). */
  out: { name: string; path: string }[];
  /** Put in the workspace before the task starts, where they were taken from. */
  in: { name: string; from: ArtifactSource }[];
}

export interface CacheSpec {
  /** The key, with `${VAR}` and `${hashFiles('glob')}` filled in when the task starts. */
  key: string;
  /** What is saved and restored: paths in the workspace. */
  paths: string[];
  /** Prefixes tried in order when the exact key misses: the newest entry starting with one is restored. */
  restoreKeys: string[];
}

/** What a task's cache came to in one run. */
export interface CacheResult {
  key: string;
  /** "exact": the key was found; "prefix": an entry of a restore key was restored; "miss": nothing was. */
  hit: "exact" | "prefix" | "miss";
  /** The key of the entry restored (for a prefix hit). */
  restoredKey?: string;
  /** Saved after the task succeeded (a miss or prefix hit saves under the key). */
  saved?: boolean;
  /** Why restoring or saving failed (the task went on). */
  error?: string;
}

export const SARIF_LEVELS = ["error", "warning", "note"] as const;
export type SarifLevel = (typeof SARIF_LEVELS)[number];
export type FailOn = SarifLevel | "none";

export interface SarifSpec {
  /** The SARIF 2.1.0 file the task writes, in the workspace. */
  path: string;
  /** The task fails when a finding at or above this level exists. */
  failOn: FailOn;
  /** The scanner's name, when the report does not say. */
  tool?: string;
}

/**
 * What is wrong with a path a pipeline gives inside the workspace, or undefined: relative,
 * no `..` segment, no NUL. (Symlinks are checked when the files are read.)
 */
export function workspacePathProblem(path: string): string | undefined {
  if (path.length === 0) return "must not be empty";
  if (path.includes("\0")) return "must not contain a NUL character";
  if (path.startsWith("/")) return "must be a path inside the workspace (relative, not starting with /)";
  if (path.split("/").some((segment) => segment === "..")) return "must stay inside the workspace (no .. segments)";
  return undefined;
}
