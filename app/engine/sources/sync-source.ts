// One sync of a git source: ask the remote where the branch is (one request when nothing
// changed), fetch it, and load each new commit that changed the source folder, oldest first,
// into versions labelled with the commit. A failure at any step leaves the versions already
// made current and is shown on the source; nothing stored is lost, a force-push included.
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join, relative } from "node:path";
import type { Db } from "../../db/client.ts";
import { getPipeline, listPipelinesOf, markPipelineDeleted } from "../../db/repos/pipelines.ts";
import { markCommitLoaded, requireSource, recordCommit, recordVersionAtCommit, updateSourceStatus, type SourceRow } from "../../db/repos/sources.ts";
import { UpstreamError } from "../../domain/errors.ts";
import type { ContainerPolicy } from "../../domain/container-policy.ts";
import { ID_PATTERN } from "../../domain/ids.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { SpecIssue } from "../../domain/pipeline-spec.ts";
import { printable, type CommitInfo, type VersionOrigin } from "../../domain/sources.ts";
import { recordSourceEvent } from "./source-events.ts";
import type { EventBus } from "../event-bus.ts";
import type { RunSandbox } from "../executors/run-sandbox.ts";
import { buildBundle, type PipelineBuilder } from "../pipelines/bundle-build.ts";
import { compilePipelineFile, type CompileResult } from "../pipelines/pipeline-compiler.ts";
import { isPipelineFile } from "../pipelines/pipeline-loader.ts";
import { ownershipProblem, recordPipelineEvent, registerLoadFailure, registerVersion, versionFiles } from "../pipelines/register-version.ts";
import { createSandboxedBuilder } from "../pipelines/sandboxed-build.ts";
import type { BundleImporter } from "../pipelines/sandboxed-import.ts";
import { commitInfo, commitsBetween, ensureMirror, isAncestor, fetchBranch, hasCommit, keepCommit, parseCredentials, remoteHead, type GitCredentials } from "./git.ts";
import { installDependencies } from "./source-dependencies.ts";
import { TreeTooLargeError, writeSourceTree, type WrittenTree } from "./source-tree.ts";

/** Commits one sync loads at most (the newest); older ones are recorded but make no versions. */
export const MAX_COMMITS_PER_SYNC = 20;
/** Commits one sync records at most. */
const MAX_COMMITS_SEEN = 1_000;

export interface SyncContext {
  db: Db;
  bus: EventBus;
  now: () => Date;
  /** <data>/sources: mirrors, trees and installed dependencies. */
  sourcesDir: string;
  bundlesDir: string;
  sandbox: RunSandbox;
  containerPolicy?: ContainerPolicy;
  /** A global secret's value (the source's credentials). */
  secret(name: string): Promise<string | undefined>;
  /** Imports a bundle to read its spec (the server's sandbox); a Worker when absent. */
  importBundle?: BundleImporter;
}

export interface SyncOutcome {
  /** The branch's commit the source is synced to now. */
  head?: CommitInfo;
  /** Nothing new on the remote: nothing was fetched. */
  unchanged: boolean;
  /** New commits seen, and how many of them changed the source folder and were loaded. */
  commits: number;
  loaded: number;
  /** Pipelines that got a new version, and files that failed to load, by commit. */
  versions: { pipeline: string; version: number; commit: string }[];
  failures: { file: string; commit: string; issues: SpecIssue[] }[];
  /** What was left out (a symlink out of the folder, commits past the per-sync limit). */
  warnings: string[];
}

/** What a source last loaded, per file: so an unchanged file is not bundled again. */
interface LoadedFile {
  fingerprint: string;
  /** The folder's files its last good bundle was made from: only a change to one of them reloads it. */
  inputs?: string[];
  key?: PipelineKey;
}

export interface SourceSyncer {
  sync(name: string): Promise<SyncOutcome>;
  /** Forgets what the syncer knew of a source (it was deleted or moved). */
  forget(name: string): void;
  /** Where a source's mirror is. */
  mirrorOf(name: string): string;
}

/** A sync that could not finish: the remote, the credentials, the branch. */
export class SyncError extends UpstreamError {}

export function createSourceSyncer(context: SyncContext): SourceSyncer {
  const { db, now } = context;
  const registration = { db, bus: context.bus, now };
  const loadedFiles = new Map<string, Map<string, LoadedFile>>();
  const mirrorOf = (name: string) => join(context.sourcesDir, name, "repo.git");

  const builderFor = (folder: string): PipelineBuilder =>
    context.sandbox.status.state === "off" ? buildBundle : createSandboxedBuilder(context.sandbox, folder);

  const credentialsOf = async (source: SourceRow): Promise<GitCredentials | undefined> => {
    if (!source.auth) return undefined;
    const value = await context.secret(source.auth);
    if (value === undefined) throw new SyncError(`the secret "${source.auth}" named by auth is not set: set it with gantry secret set ${source.auth}`);
    return parseCredentials(value);
  };

  /** Loads the source folder as of one commit; false when the folder could not be written (too large). */
  const loadCommit = async (source: SourceRow, commit: CommitInfo, seq: number, outcome: SyncOutcome): Promise<boolean> => {
    // One folder per source whatever the commit: bundles name the files they were made from
    // (source maps), so the same content at another commit bundles the same, and is no new version.
    const folder = join(context.sourcesDir, source.name, "tree");
    let tree: WrittenTree;
    try {
      tree = await writeSourceTree(mirrorOf(source.name), commit.sha, source.path, folder);
    } catch (error) {
      if (!(error instanceof TreeTooLargeError)) throw error;
      // The commit is skipped (its versions stay as they were), not retried by every later sync.
      outcome.failures.push({ file: source.path, commit: commit.sha, issues: [{ path: "", message: error.message }] });
      return false;
    }
    outcome.warnings.push(...tree.warnings.map((warning) => `${commit.sha.slice(0, 7)}: ${warning}`));
    if (tree.files.size === 0) outcome.warnings.push(`${commit.sha.slice(0, 7)}: the folder ${source.path} is empty or missing in this commit: the source defines no pipelines`);
    const origin: VersionOrigin = { ...commit, source: source.name };
    const repoPath = (file: string) => (source.path === "." ? file : `${source.path}/${file}`);
    const known = loadedFiles.get(source.name) ?? new Map<string, LoadedFile>();
    loadedFiles.set(source.name, known);

    const dependencies = await installDependencies(folder, tree.files, join(context.sourcesDir, source.name, "dependencies"), context.sandbox);
    // A name with control characters is no pipeline file (it would be shown, stored, logged).
    const files = [...tree.files.keys()].filter((file) => !file.includes("/") && isPipelineFile(file) && !/\p{Cc}/u.test(file)).sort();
    const present = new Set<string>();
    const defined = new Map<string, PipelineKey>();
    // The current version registerVersion gave each pipeline it stored this commit (by
    // "namespace/id"), so the versions at this commit are recorded without reading them again;
    // a pipeline retired since is read again.
    const registered = new Map<string, number>();
    for (const file of files) {
      const last = known.get(file);
      const fingerprint = fingerprintOf(tree.files, file, dependencies.ok ? (dependencies.hash ?? "") : "failed", last?.inputs);
      present.add(file);
      if (last?.fingerprint === fingerprint && last.key) {
        defined.set(file, last.key);
        continue;
      }
      const fallbackId = file.replace(/\.[^.]+$/, "").toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 64) || "invalid";
      const previous = last?.key;
      const blameKey: PipelineKey = previous ?? { namespace: source.namespace, id: fallbackId };
      const fail = async (issues: SpecIssue[], key = blameKey) => {
        outcome.failures.push({ file: printable(repoPath(file)), commit: commit.sha, issues });
        // Another folder's or source's pipeline is never marked with this file's error.
        const owner = await getPipeline(db, key);
        if (owner && owner.source !== source.name) {
          known.set(file, { fingerprint, ...(previous && { key: previous }) });
          if (previous) defined.set(file, previous);
          return;
        }
        // The pipeline is listed with its error (and keeps its last good version, if any).
        await registerLoadFailure(registration, { key, file: repoPath(file), source: source.name, issues, origin, existing: owner });
        known.set(file, { fingerprint, key });
        defined.set(file, key);
      };
      if (!dependencies.ok) {
        await fail([{ path: "", message: dependencies.message }]);
        continue;
      }
      let compiled: CompileResult;
      try {
        compiled = await compilePipelineFile(join(folder, file), {
          bundlesDir: context.bundlesDir,
          buildBundle: builderFor(folder),
          ...(context.containerPolicy && { policy: context.containerPolicy }),
          ...(context.importBundle && { importBundle: context.importBundle }),
        });
      } catch (error) {
        compiled = { ok: false, issues: [{ path: "", message: `the file could not be loaded: ${(error as Error).message}` }] };
      }
      if (!compiled.ok) {
        await fail(compiled.issues, compiled.id && ID_PATTERN.test(compiled.id) ? { namespace: source.namespace, id: compiled.id } : blameKey);
        continue;
      }
      const key = { namespace: source.namespace, id: compiled.spec.id };
      const owner = await getPipeline(db, key);
      const taken = ownershipProblem(owner, repoPath(file), source.name, owner !== undefined && (owner.source !== source.name || present.has(owner.file.slice(source.path === "." ? 0 : source.path.length + 1))));
      if (taken) {
        await fail([{ path: "id", message: taken }]);
        continue;
      }
      // The file now defines another id: the old pipeline is gone, and its triggers with it.
      if (previous && previous.id !== key.id) {
        registered.delete(`${previous.namespace}/${previous.id}`);
        if (await markPipelineDeleted(db, previous, now())) {
          context.bus.publish({ kind: "subscriptions.changed", namespace: previous.namespace, pipeline: previous.id });
        }
      }
      const inputs = compiled.inputs.map((input) => relative(folder, input)).filter((input) => !input.startsWith(".."));
      const { version, created } = await registerVersion(registration, {
        key,
        file: repoPath(file),
        source: source.name,
        compiled,
        origin,
        files: versionFiles(folder, join(folder, file), compiled.inputs),
      });
      registered.set(`${key.namespace}/${key.id}`, version);
      if (created) outcome.versions.push({ pipeline: `${key.namespace}/${key.id}`, version, commit: commit.sha });
      // Fingerprinted again with what it bundled, as the next commit will be compared.
      known.set(file, { fingerprint: fingerprintOf(tree.files, file, dependencies.hash ?? "", inputs), key, inputs });
      defined.set(file, key);
    }
    for (const file of [...known.keys()]) if (!present.has(file)) known.delete(file);

    // Pipelines of this source no file defines any more are retired; their runs and versions stay.
    const keys = new Set([...defined.values()].map((key) => `${key.namespace}/${key.id}`));
    for (const pipeline of await listPipelinesOf(db, source.name)) {
      if (keys.has(`${pipeline.namespace}/${pipeline.id}`)) continue;
      if (await markPipelineDeleted(db, pipeline, now())) {
        context.bus.publish({ kind: "subscriptions.changed", namespace: pipeline.namespace, pipeline: pipeline.id });
      }
      await recordPipelineEvent(registration, "pipeline.removed", pipeline, { file: pipeline.file, commit: commit.sha });
      await recordVersionAtCommit(db, source.name, seq, pipeline, null);
    }
    for (const key of defined.values()) {
      const current = registered.get(`${key.namespace}/${key.id}`) ?? (await getPipeline(db, key))?.currentVersion;
      if (current != null) await recordVersionAtCommit(db, source.name, seq, key, current);
    }
    await keepCommit(mirrorOf(source.name), commit.sha);
    return true;
  };

  const sync = async (name: string): Promise<SyncOutcome> => {
    const source = await requireSource(db, name);
    const outcome: SyncOutcome = { unchanged: false, commits: 0, loaded: 0, versions: [], failures: [], warnings: [] };
    const gitDir = mirrorOf(name);
    try {
      const credentials = await credentialsOf(source);
      const remote = await remoteHead(source.repo, source.branch, credentials).catch((error: Error) => {
        throw new SyncError(`cannot reach ${source.repo}: ${error.message}`);
      });
      if (!remote) throw new SyncError(`${source.repo} has no branch "${source.branch}"`);
      const mirrored = existsSync(join(gitDir, "HEAD"));
      // The database holds what the last sync made of this head (a restart changes nothing).
      if (source.head?.sha === remote && mirrored) {
        outcome.unchanged = true;
        outcome.head = source.head;
        await updateSourceStatus(db, name, { state: "ok", lastError: null, lastCheckedAt: now() });
        return outcome;
      }
      await updateSourceStatus(db, name, { state: "syncing", lastCheckedAt: now() });
      context.bus.publish({ kind: "source.syncing", source: name });
      mkdirSync(join(context.sourcesDir, name), { recursive: true });
      // The sandbox user passes through to the tree (the mirror beside it stays the server's, 0700).
      chmodSync(join(context.sourcesDir, name), 0o711);
      await ensureMirror(gitDir);
      const head = await fetchBranch(gitDir, source.repo, source.branch, credentials).catch((error: Error) => {
        throw new SyncError(`cannot fetch ${source.branch} from ${source.repo}: ${error.message}`);
      });
      const from = source.head && (await hasCommit(gitDir, source.head.sha)) ? source.head.sha : undefined;
      const range = await commitsBetween(gitDir, { ...(from && { from }), to: head, path: source.path, limit: from ? MAX_COMMITS_SEEN : 1 });
      const commits = range.commits;
      // A force-push back to an older commit: nothing is new, but the folder is as it was then.
      if (commits.length === 0 && head !== source.head?.sha) commits.push({ ...(await commitInfo(gitDir, head)), touching: true });
      // Those that changed the folder, the newest up to the limit; and the head when the folder
      // may differ from what was last loaded without any of them saying so: a first sync or a
      // force-push onto another history.
      const fastForward = from !== undefined && (await isAncestor(gitDir, from, head));
      const toLoad = new Set(commits.filter((commit, index) => commit.touching || (!fastForward && index === commits.length - 1)).map((commit) => commit.sha));
      const loadable = commits.filter((commit) => toLoad.has(commit.sha));
      if (loadable.length > MAX_COMMITS_PER_SYNC) {
        for (const skipped of loadable.slice(0, loadable.length - MAX_COMMITS_PER_SYNC)) toLoad.delete(skipped.sha);
        outcome.warnings.push(`${loadable.length - MAX_COMMITS_PER_SYNC} older commits that changed the folder made no versions (a sync loads at most ${MAX_COMMITS_PER_SYNC})`);
      }
      // A first sync records only the head, by design: no warning for the history before it.
      if (range.more && from) outcome.warnings.push(`more than ${MAX_COMMITS_SEEN} new commits: only the newest were recorded`);
      let last: CommitInfo | undefined;
      for (const commit of commits) {
        const info: CommitInfo = { sha: commit.sha, author: commit.author, message: commit.message, committedAt: commit.committedAt };
        const seq = await recordCommit(db, name, info, now());
        outcome.commits++;
        if (toLoad.has(commit.sha) && (await loadCommit(source, info, seq, outcome))) {
          await markCommitLoaded(db, name, seq);
          outcome.loaded++;
        }
        last = info;
        // Progress shows on the source page as each commit lands.
        await updateSourceStatus(db, name, { head: info });
      }
      outcome.head = last ?? source.head ?? undefined;
      const at = now();
      await updateSourceStatus(db, name, {
        state: "ok",
        lastError: null,
        lastSyncAt: at,
        // Kept for whoever looks later (the sync adding a source starts is nobody's request).
        lastSync: { at: at.toISOString(), commits: outcome.commits, loaded: outcome.loaded, versions: outcome.versions.slice(0, 100), failures: outcome.failures.slice(0, 100), warnings: outcome.warnings.slice(0, 100) },
      });
      await recordSourceEvent(context, "source.synced", name, {
        head: outcome.head?.sha,
        commits: outcome.commits,
        loaded: outcome.loaded,
        versions: outcome.versions.length,
        failures: outcome.failures.length,
        ...(outcome.warnings.length > 0 && { warnings: outcome.warnings.slice(0, 20) }),
      });
      return outcome;
    } catch (error) {
      const message = (error as Error).message;
      await updateSourceStatus(db, name, { state: "error", lastError: message, lastCheckedAt: now() });
      await recordSourceEvent(context, "source.sync_failed", name, { error: message });
      throw error instanceof SyncError ? error : new SyncError(message);
    }
  };

  return {
    sync,
    forget(name) {
      loadedFiles.delete(name);
      rmSync(join(context.sourcesDir, name), { recursive: true, force: true });
    },
    mirrorOf,
  };
}

/**
 * A file's fingerprint: its content, the installed packages, and the files it bundled last
 * time it loaded (`inputs`), or, not knowing those, every other file of the folder (any may be
 * a helper it imports: fixing a broken helper must reload it).
 */
function fingerprintOf(files: Map<string, string>, file: string, dependencies: string, inputs?: string[]): string {
  const hasher = new Bun.CryptoHasher("sha256").update(`${file}\0${files.get(file)}\0${dependencies}`);
  const others = inputs ? inputs.map((path) => [path, files.get(path) ?? "missing"] as const) : [...files].filter(([path]) => path !== file);
  for (const [path, oid] of [...others].sort(([a], [b]) => a.localeCompare(b))) hasher.update(`\0${path}\0${oid}`);
  return hasher.digest("hex");
}

