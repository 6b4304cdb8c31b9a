// A task's cache, per pipeline: restored before the task starts (the exact key, else the newest
// entry of the first restore key that has one), saved after it succeeds unless the key was an
// exact hit, and evicted least recently used first past GANTRY_CACHE_MAX_BYTES. A cache only
// speeds a task up, so whatever goes wrong is logged and the task goes on.
import { rm } from "node:fs/promises";
import type { Db } from "../../db/client.ts";
import {
  deleteCacheEntry,
  evictCacheEntries,
  getCacheEntry,
  getCacheResult,
  newestCacheEntryWithPrefix,
  putCacheEntry,
  recordCacheResult,
  touchCacheEntry,
  type CacheEntryRow,
} from "../../db/repos/cache-entries.ts";
import { formatBytes } from "../../domain/bytes.ts";
import type { CacheResult } from "../../domain/task-files.ts";
import type { ArtifactStore } from "../../stores/artifact-store.ts";
import { fetchVerified } from "../../stores/verified-blob.ts";
import { packWorkspacePaths, PackTooLargeError, unpackArchive, type PackResult } from "../../stores/workspace-archive.ts";
import { fillCacheKey } from "./cache-key.ts";
import type { TaskFilesContext } from "./index.ts";
import { messageOf } from "../../domain/errors.ts";

export interface CachesOptions {
  db: Db;
  store: ArtifactStore;
  /** GANTRY_CACHE_MAX_BYTES: what one pipeline's entries may hold together. */
  maxBytes: number;
  now?: () => Date;
}

export interface Caches {
  restore(context: TaskFilesContext): Promise<void>;
  save(context: TaskFilesContext): Promise<void>;
}

/** Where a cache entry's blob is kept: a fresh key per save, so concurrent saves never write one blob. */
export const cacheStorageKey = (pipeline: { namespace: string; id: string }) => `caches/${pipeline.namespace}/${pipeline.id}/${crypto.randomUUID()}.tar`;


export function createCaches(options: CachesOptions): Caches {
  const { db, store, maxBytes } = options;
  const now = options.now ?? (() => new Date());

  const record = async (context: TaskFilesContext, result: CacheResult) => {
    try {
      await recordCacheResult(db, context.key, context.task.id, result);
    } catch (error) {
      context.log(`cache: the result could not be recorded: ${messageOf(error)}`);
    }
  };

  const fill = async (context: TaskFilesContext, template: string) => {
    const filled = await fillCacheKey(template, context);
    for (const note of filled.notes) context.log(`cache: ${note}`);
    return withoutSecrets(filled.key, context);
  };

  /** Deletes a blob no row refers to any more; a failure only leaves it for the janitor's sweep. */
  const dropBlob = (storageKey: string) => store.delete(storageKey).catch(() => undefined);

  /** Puts an entry in the workspace; returns why not, or undefined when restored. */
  const restoreEntry = async (context: TaskFilesContext, entry: CacheEntryRow): Promise<string | undefined> => {
    let file: string | undefined;
    try {
      file = (await fetchVerified(store, entry.storageKey, entry.sha256)).file;
      // fetchVerified checked its sha256 while copying it.
      await unpackArchive(file, context.workspace);
      await touchCacheEntry(db, entry, now());
      return undefined;
    } catch (error) {
      const name = (error as Error).name;
      if (name === "CorruptBlobError" || name === "CorruptArchiveError" || name === "MissingBlobError") {
        // Never used, and out of the way so the next save stores a good one.
        if (await deleteCacheEntry(db, entry)) await dropBlob(entry.storageKey);
        return `the entry ${entry.key} is ${name === "MissingBlobError" ? "missing" : "corrupted"} (${messageOf(error)}); it was not used and is removed`;
      }
      return `restoring ${entry.key} failed: ${messageOf(error)}`;
    } finally {
      if (file) await rm(file, { force: true });
    }
  };

  return {
    async restore(context) {
      const spec = context.task.cache;
      if (!spec) return;
      const pipeline = { namespace: context.key.namespace, id: context.key.id };
      let key = spec.key;
      let result: CacheResult;
      try {
        key = await fill(context, spec.key);
        if (key === "") {
          context.log("cache: the key is empty once filled in; nothing is restored or saved");
          await record(context, { key, hit: "miss", error: "the key is empty" });
          return;
        }
        let entry = await getCacheEntry(db, pipeline, key);
        let hit: CacheResult["hit"] = entry ? "exact" : "miss";
        for (const template of entry ? [] : spec.restoreKeys) {
          const prefix = await fill(context, template);
          if (prefix === "") continue;
          entry = await newestCacheEntryWithPrefix(db, pipeline, prefix);
          if (entry) {
            hit = "prefix";
            break;
          }
        }
        if (!entry) {
          context.log(`cache miss: ${key}`);
          result = { key, hit: "miss" };
        } else {
          const problem = await restoreEntry(context, entry);
          if (problem) {
            context.log(`cache miss: ${key} (${problem})`);
            result = { key, hit: "miss", error: problem };
          } else if (hit === "exact") {
            context.log(`cache hit: ${key} (${formatBytes(entry.size)})`);
            result = { key, hit };
          } else {
            context.log(`cache hit: ${key} (restored ${entry.key} by a restore key, ${formatBytes(entry.size)})`);
            result = { key, hit, restoredKey: entry.key };
          }
        }
      } catch (error) {
        context.log(`cache: restoring failed: ${messageOf(error)}`);
        result = { key, hit: "miss", error: messageOf(error) };
      }
      await record(context, result);
    },

    async save(context) {
      const spec = context.task.cache;
      if (!spec) return;
      const pipeline = { namespace: context.key.namespace, id: context.key.id };
      const before = await getCacheResult(db, context.key, context.task.id).catch(() => undefined);
      if (before?.hit === "exact") return;
      let key = before?.key ?? spec.key;
      const file = store.tempFile();
      let stored = false;
      try {
        // The key the restore filled in (before the task could change the files it hashes).
        if (!before) key = await fill(context, spec.key);
        if (key === "") return;
        let packed: PackResult;
        try {
          // No entry may be bigger than all of a pipeline's caches together: packing stops there
          // (its temp file removed) instead of writing a huge folder out in full first.
          packed = await packWorkspacePaths(context.workspace, spec.paths, file, { missing: "skip", maxBytes });
        } catch (error) {
          if (!(error instanceof PackTooLargeError)) throw error;
          const why = `${key} is over GANTRY_CACHE_MAX_BYTES (${formatBytes(maxBytes)}), more than a pipeline's caches may hold (packing stopped at ${error.path}); not saved`;
          context.log(`cache: ${why}`);
          await record(context, { ...(before ?? { hit: "miss" }), key, saved: false, error: why });
          return;
        }
        for (const path of packed.skipped) context.log(`cache: ${path} does not exist in the workspace; not saved`);
        if (packed.packed.length === 0) {
          context.log(`cache: nothing to save for ${key}`);
          await record(context, { ...(before ?? { hit: "miss" }), key, saved: false });
          return;
        }
        const at = now();
        const row: CacheEntryRow = {
          namespace: pipeline.namespace,
          pipelineId: pipeline.id,
          key,
          size: packed.size,
          sha256: packed.sha256,
          storageKey: cacheStorageKey(pipeline),
          runId: context.key.run,
          createdAt: at,
          lastUsedAt: at,
        };
        await store.put(row.storageKey, file);
        stored = true;
        // One row per key: a concurrent save of the same key is replaced, or replaces this one,
        // and whichever blob lost its row is deleted by the one who replaced it.
        const replaced = await putCacheEntry(db, row);
        if (replaced) await dropBlob(replaced);
        context.log(`cache saved: ${key} (${formatBytes(row.size)}, sha256 ${row.sha256.slice(0, 12)})`);
        for (const evicted of await evictCacheEntries(db, pipeline, maxBytes)) {
          await dropBlob(evicted.storageKey);
          context.log(`cache: evicted ${evicted.key} (${formatBytes(evicted.size)}, least recently used) to keep the pipeline's caches within ${formatBytes(maxBytes)}`);
        }
        await record(context, { ...(before ?? { hit: "miss" }), key, saved: true });
      } catch (error) {
        context.log(`cache: saving ${key} failed: ${messageOf(error)}`);
        await record(context, { ...(before ?? { hit: "miss" }), key, saved: false, error: messageOf(error) });
      } finally {
        if (!stored) await rm(file, { force: true });
      }
    },
  };
}

/**
 * A key is stored and shown (pipeline page, API): a secret's value a `${VAR}` put in it is
 * replaced by a hash of it, so the key still tells one value from another.
 */
function withoutSecrets(key: string, context: TaskFilesContext): string {
  let safe = key;
  for (const value of context.secrets ?? []) {
    if (value.length < 4 || !safe.includes(value)) continue;
    safe = safe.split(value).join(`sha256:${new Bun.CryptoHasher("sha256").update(value).digest("hex").slice(0, 12)}`);
    context.log("cache: the key held a secret's value; it is stored as its hash instead");
  }
  return safe;
}
