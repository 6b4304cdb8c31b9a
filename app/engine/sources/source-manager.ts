// The sources' facade: sources from gantry.toml and the API, their syncs (one at a time per
// source; asking during a sync asks for one more after it), polling, pushes announced by
// webhooks, and runs pinned to an older commit.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../../db/client.ts";
import { getVersion, listPipelinesOf, markPipelineDeleted, type PipelineRow } from "../../db/repos/pipelines.ts";
import { insertEvent } from "../../db/repos/events.ts";
import { claimSourceCheck, deleteSource, listDueSources, findSourceCommits, getSource, requireSource, listLoadedCommits, listSources, settingsOf, upsertSource, versionAtCommit, type SourceCommitRow, type SourceRow } from "../../db/repos/sources.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../domain/errors.ts";
import { COMMIT_PATTERN, normalizeRepoUrl, sourceMoved, type SourceSettings } from "../../domain/sources.ts";
import { recordSourceEvent } from "./source-events.ts";
import type { EventBus } from "../event-bus.ts";
import { createSourceSyncer, MAX_COMMITS_PER_SYNC, type SyncContext, type SyncOutcome } from "./sync-source.ts";
import { ancestorsOf, commitsBetween } from "./git.ts";

/** How often the poller looks for sources due a check. */
const POLL_TICK_MS = 1_000;

export interface SourceManager {
  /** Applies gantry.toml's sources, then syncs every source in the background and starts polling. */
  start(configured: Record<string, SourceSettings>): Promise<void>;
  /** Stops polling; resolves once syncs under way have ended. */
  close(): Promise<void>;
  /** Creates or changes a source (not one gantry.toml defines) and syncs it in the background. */
  save(name: string, settings: SourceSettings, by: string): Promise<{ source: SourceRow; created: boolean }>;
  /** Deletes a source; its pipelines are retired, their runs and versions stay readable. */
  remove(name: string, by: string): Promise<void>;
  /** Syncs now (or joins the sync under way and the one after it) and resolves with the outcome. */
  sync(name: string): Promise<SyncOutcome>;
  /** Asks for a sync without waiting for it. */
  requestSync(name: string): void;
  /** A push to `branch` of a repository known by these URLs: syncs the sources following it; returns their names. */
  pushed(repoUrls: string[], branch: string): Promise<string[]>;
  /** The version of a source's pipeline as of a synced commit, for a pinned run. */
  pin(pipeline: PipelineRow, commit: string): Promise<{ version: number; commit: string }>;
  /** Whether a sync of the source is under way here. */
  syncing(name: string): boolean;
}

export interface SourceManagerOptions extends SyncContext {
  db: Db;
  bus: EventBus;
}

export function createSourceManager(options: SourceManagerOptions): SourceManager {
  const { db, bus, now } = options;
  const syncer = createSourceSyncer(options);
  /** Per source: the sync under way, and the one asked for while it ran. */
  const running = new Map<string, Promise<SyncOutcome>>();
  const next = new Map<string, Promise<SyncOutcome>>();
  /**
   * Sources being changed or removed: no sync starts for them until that is done (a sync
   * must not load a moved source's old repository, nor write for one that is gone).
   */
  const held = new Map<string, Promise<void>>();
  let poller: ReturnType<typeof setInterval> | undefined;
  let closed = false;


  const sync = (name: string): Promise<SyncOutcome> => {
    const queued = next.get(name);
    if (queued) return queued;
    const current = running.get(name);
    const hold = held.get(name);
    const start = () => {
      next.delete(name);
      const run = syncer.sync(name).finally(() => {
        if (running.get(name) === run) running.delete(name);
      });
      running.set(name, run);
      return run;
    };
    if (!current && !hold) return start();
    const after = Promise.all([current?.catch(() => undefined), hold]).then(start);
    next.set(name, after);
    return after;
  };

  /** Runs `change` with no sync of the source under way or starting; syncs asked for meanwhile wait for it. */
  const holding = async <T>(name: string, change: () => Promise<T>): Promise<T> => {
    while (held.has(name)) await held.get(name);
    let release!: () => void;
    held.set(name, new Promise<void>((resolve) => (release = resolve)));
    try {
      // A sync queued before the hold was taken is one that started or will start: wait for both.
      while (running.has(name) || next.has(name)) {
        await Promise.all([running.get(name)?.catch(() => undefined), next.get(name)?.catch(() => undefined)]);
      }
      return await change();
    } finally {
      held.delete(name);
      release();
    }
  };

  const requestSync = (name: string) => {
    if (closed) return;
    // The outcome is on the source (state, error) and in the event log.
    sync(name).catch(() => undefined);
  };

  const retire = async (name: string) => {
    for (const pipeline of await listPipelinesOf(db, name)) {
      if (await markPipelineDeleted(db, pipeline, now())) bus.publish({ kind: "subscriptions.changed", namespace: pipeline.namespace, pipeline: pipeline.id });
      await insertEvent(db, { kind: "pipeline.removed", namespace: pipeline.namespace, pipelineId: pipeline.id, data: { file: pipeline.file, source: name }, at: now() });
      bus.publish({ kind: "pipeline.removed", namespace: pipeline.namespace, pipeline: pipeline.id });
    }
  };

  const removeNow = (name: string) =>
    holding(name, async () => {
      // The row first: a sync asked for later finds no source, and writes nothing.
      await deleteSource(db, name);
      await retire(name);
      syncer.forget(name);
    });

  /** The newest loaded commit in the history of `sha`, when nothing between them changed the source's folder. */
  const loadedAncestor = async (name: string, sha: string): Promise<SourceCommitRow> => {
    const source = await getSource(db, name);
    const gitDir = syncer.mirrorOf(name);
    if (!source || !existsSync(join(gitDir, "HEAD"))) throw new ConflictError(`source ${name} has no mirror here yet: sync it first`);
    const loaded = new Map((await listLoadedCommits(db, name)).map((row) => [row.sha, row]));
    const found = (await ancestorsOf(gitDir, sha, 10_000)).find((ancestor) => loaded.has(ancestor));
    if (!found) throw new ConflictError(`no loaded commit of source ${name} is in the history of ${sha.slice(0, 12)}`);
    const between = await commitsBetween(gitDir, { from: found, to: sha, path: source.path, limit: 10_000 });
    if (between.commits.some((commit) => commit.touching)) {
      throw new ConflictError(`commit ${sha.slice(0, 12)} changed ${source.path} after the last loaded commit (${found.slice(0, 12)}) but was not loaded itself (a sync loads at most ${MAX_COMMITS_PER_SYNC} commits): run as of a loaded commit`);
    }
    return loaded.get(found)!;
  };

  const poll = async () => {
    const at = now().getTime();
    for (const source of await listDueSources(db, new Date(at))) {
      if (running.has(source.name)) continue;
      // Claimed in the database first: of the servers sharing it, one polls (its mirror may be theirs too).
      if (await claimSourceCheck(db, source.name, new Date(at), new Date(at - source.pollIntervalMs))) requestSync(source.name);
    }
  };

  return {
    async start(configured) {
      for (const [name, settings] of Object.entries(configured)) {
        const taken = (await listSources(db)).find((source) => source.name !== name && source.namespace === settings.namespace && source.definedIn === "api");
        if (taken) {
          console.error(`gantry.toml [sources.${name}] is not loaded: namespace "${settings.namespace}" is already the namespace of source ${taken.name} (added over the API)`);
          continue;
        }
        const { created, changed } = await upsertSource(db, name, settings, "config", now());
        if (changed) await recordSourceEvent({ db, bus, now }, created ? "source.added" : "source.changed", name, { by: "gantry.toml" });
      }
      for (const source of await listSources(db)) {
        if (source.definedIn === "config" && !Object.hasOwn(configured, source.name)) {
          await removeNow(source.name);
          await recordSourceEvent({ db, bus, now }, "source.removed", source.name, { by: "gantry.toml" });
        }
      }
      for (const source of await listSources(db)) requestSync(source.name);
      poller = setInterval(() => void poll().catch((error) => console.error("source polling failed:", error)), POLL_TICK_MS);
      poller.unref();
    },
    async close() {
      closed = true;
      clearInterval(poller);
      await Promise.all([...running.values(), ...next.values()].map((sync) => sync.catch(() => undefined)));
    },
    async save(name, settings, by) {
      const existing = await getSource(db, name);
      if (existing?.definedIn === "config") throw new ConflictError(`source ${name} is defined in gantry.toml; change it there`);
      const taken = (await listSources(db)).find((source) => source.name !== name && source.namespace === settings.namespace);
      if (taken) throw new ConflictError(`namespace "${settings.namespace}" is already the namespace of source ${taken.name}`);
      const moved = existing !== undefined && sourceMoved(settingsOf(existing), settings);
      // Another repository, branch, folder or namespace: the mirror and what was loaded from it
      // start over, with no sync of the old settings under way or starting meanwhile.
      const { created, changed } = moved
        ? await holding(name, async () => {
            const saved = await upsertSource(db, name, settings, "api", now());
            syncer.forget(name);
            return saved;
          })
        : await upsertSource(db, name, settings, "api", now());
      if (changed) {
        await recordSourceEvent({ db, bus, now }, created ? "source.added" : "source.changed", name, { by });
        requestSync(name);
      }
      return { source: (await getSource(db, name))!, created };
    },
    async remove(name, by) {
      const existing = await requireSource(db, name);
      if (existing.definedIn === "config") throw new ConflictError(`source ${name} is defined in gantry.toml; remove it there`);
      await removeNow(name);
      await recordSourceEvent({ db, bus, now }, "source.removed", name, { by });
    },
    sync: async (name) => {
      await requireSource(db, name);
      return sync(name);
    },
    requestSync,
    async pushed(repoUrls, branch) {
      const wanted = new Set(repoUrls.map(normalizeRepoUrl));
      const names = (await listSources(db)).filter((source) => source.branch === branch && wanted.has(normalizeRepoUrl(source.repo))).map((source) => source.name);
      for (const name of names) requestSync(name);
      return names;
    },
    async pin(pipeline, commit) {
      const key = { namespace: pipeline.namespace, id: pipeline.id };
      const name = `${key.namespace}/${key.id}`;
      if (!COMMIT_PATTERN.test(commit)) throw new ValidationError(`commit "${commit}" must be a commit sha (7 to 40 hex digits)`);
      if (pipeline.source === null) throw new ValidationError(`pipeline ${name} comes from the local pipelines folder: only a pipeline from a git source can run as of a commit`);
      const found = await findSourceCommits(db, pipeline.source, commit);
      if (found.length === 0) throw new NotFoundError(`commit ${commit} is not a synced commit of source ${pipeline.source} (gantry source get ${pipeline.source} lists them)`);
      if (found.length > 1) throw new ValidationError(`commit ${commit} is ambiguous in source ${pipeline.source}: give more of the sha`);
      const synced = found[0]!;
      // A commit that was not loaded is as its nearest loaded ancestor left the folder, if no
      // commit in between changed it (one a sync skipped past its limit did).
      const asOf = synced.loaded ? synced : await loadedAncestor(pipeline.source, synced.sha);
      const version = await versionAtCommit(db, pipeline.source, key, asOf.seq);
      if (version === undefined || version === null) throw new ConflictError(`pipeline ${name} did not exist at commit ${synced.sha.slice(0, 12)}`);
      const row = await getVersion(db, key, version);
      if (!row || !existsSync(row.bundlePath)) throw new ConflictError(`the code of ${name} version ${version} (commit ${synced.sha.slice(0, 12)}) was pruned; it cannot run again`);
      return { version, commit: synced.sha };
    },
    syncing: (name) => running.has(name),
  };
}
