// Pieces the source pages, the pipeline page, the version diff and the run page share: a
// commit as a short sha (linked to the repository's page for it when it has one) with its
// subject and author, and a source's sync state as a badge.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { LastSync } from "../../../db/schema/sources.ts";
import type { CommitInfo, SourceSettings } from "../../../domain/sources.ts";
import type { SyncOutcome } from "../../../engine/sources/sync-source.ts";
import { Notice } from "../components/admin-forms.tsx";
import { When } from "../components/time.tsx";

export type SourceState = "new" | "syncing" | "ok" | "error";

/** Like the run states' badges: colour, a symbol and the word. */
const STATE_LOOK: Record<SourceState, { symbol: string; look: string; label: string }> = {
  new: { symbol: "○", look: "state-pending", label: "new" },
  syncing: { symbol: "◔", look: "state-running", label: "syncing" },
  ok: { symbol: "✓", look: "state-successful", label: "ok" },
  error: { symbol: "✗", look: "state-failed", label: "error" },
};

export function SourceStateBadge({ state }: { state: SourceState }) {
  const { symbol, look, label } = STATE_LOOK[state];
  return (
    <span class={`badge ${look} source-state`}>
      <span aria-hidden="true">{symbol}</span> {label}
    </span>
  );
}

/** The first 7 hex digits, git's short form; the whole sha in its title. */
export function CommitSha({ sha, url }: { sha: string; url?: string | undefined }) {
  const short = sha.slice(0, 7);
  if (!url) {
    return (
      <code class="commit-sha" title={sha}>
        {short}
      </code>
    );
  }
  return (
    <a class="commit-sha mono" href={url} title={`${sha} (opens the repository's page for it)`} rel="noopener noreferrer">
      {short}
    </a>
  );
}

/** "abc1234 Fix the build — Ada, 2h ago": a commit in one line, its sha linked when it can be. */
export function CommitLine({ commit, url, now }: { commit: CommitInfo; url?: string | undefined; now?: Date }) {
  const at = new Date(commit.committedAt);
  return (
    <span class="commit-line">
      <CommitSha sha={commit.sha} url={url} />{" "}
      <span class="commit-message">{commit.message || "(no message)"}</span>
      <span class="commit-by">
        {` — ${commit.author}`}
        {now && !Number.isNaN(at.getTime()) && (
          <>
            {", "}
            <When date={at} now={now} />
          </>
        )}
      </span>
    </span>
  );
}

/** A pipeline a source defines, as its pages list it. */
export interface SourcePipelineView {
  namespace: string;
  id: string;
  currentVersion: number | null;
  /** Why its file failed to load at the last sync that changed it (it keeps its last good version, if any). */
  error?: string;
}

/** A git source as its pages show it: settings, where its sync stands, its pipelines. */
export interface SourceView extends SourceSettings {
  name: string;
  /** "config": gantry.toml defines it, so it is changed and removed there, not here. */
  definedIn: "api" | "config";
  state: SourceState;
  head?: CommitInfo;
  /** The repository's web page of the head commit, when it has one. */
  headUrl?: string;
  /** Why the last sync failed (shown while the state is error). */
  error?: string;
  lastSyncAt: Date | null;
  /** What the last sync that got through did: kept until the next one, since a background sync is nobody's request. */
  lastSync?: LastSync;
  lastCheckedAt: Date | null;
  pipelines: SourcePipelineView[];
  /** Whether the viewer may sync and delete it (sources:write on its name). */
  canWrite: boolean;
}

/** The local pipelines folder, listed among the sources as "local". */
export interface LocalSourceView {
  path: string;
  pipelines: SourcePipelineView[];
  canWrite: boolean;
}

/** What a "Sync now" came to: the sync's outcome, or why it could not sync. */
export type SyncReport =
  | { source: string; outcome: SyncOutcome }
  | { source: string; rescanned: number }
  | { source: string; problem: string };

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

/** The notices a sync leaves at the top of the page: what it did, what failed to load, what it left out. */
export function SyncNotice({ report }: { report: SyncReport }) {
  if ("problem" in report) return <Notice kind="problem">{`Could not sync ${report.source}: ${report.problem}`}</Notice>;
  if ("rescanned" in report) return <Notice kind="ok">{`Rescanned the local pipelines folder: ${plural(report.rescanned, "pipeline")}.`}</Notice>;
  const { outcome, source } = report;
  const head = outcome.head ? ` at ${outcome.head.sha.slice(0, 7)}` : "";
  let summary: string;
  if (outcome.unchanged) summary = `${source} is up to date${head}: nothing new on the branch.`;
  else {
    const versions = outcome.versions.map((made) => `${made.pipeline} v${made.version}`);
    summary =
      `Synced ${source}${head}: ${plural(outcome.commits, "new commit")}, ${outcome.loaded} loaded` +
      (versions.length > 0 ? `; new versions: ${versions.join(", ")}.` : "; no new versions.");
  }
  return (
    <>
      <Notice kind="ok">{summary}</Notice>
      <SyncFailures failures={outcome.failures} />
      <SyncWarnings warnings={outcome.warnings} />
    </>
  );
}

/** "1 file failed to load": the files a sync could not load, each with its commit and problems. */
export function SyncFailures({ failures, alert = true }: { failures: LastSync["failures"]; alert?: boolean }) {
  if (failures.length === 0) return null;
  return (
    <div class="notice problem sync-failures" role={alert ? "alert" : undefined}>
      <p>{`${failureCount(failures.length)} (the last good versions keep running):`}</p>
      <ul>
        {failures.map((failure) => (
          <li>
            <code>{failure.file}</code>
            {` at ${failure.commit.slice(0, 7)}: `}
            {failure.issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join("; ")}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** What a sync left out (a symlink out of the folder, commits past the per-sync limit). */
export function SyncWarnings({ warnings }: { warnings: string[] }) {
  if (warnings.length === 0) return null;
  return (
    <div class="notice sync-warnings">
      <p>Left out:</p>
      <ul>
        {warnings.map((warning) => (
          <li>{warning}</li>
        ))}
      </ul>
    </div>
  );
}

export const failureCount = (count: number) => `${plural(count, "file")} failed to load`;
