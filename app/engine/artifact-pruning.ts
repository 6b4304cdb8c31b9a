// Deletes artifact and cache blobs no row refers to: rows go with their run (a cascade) or are
// replaced, and a crash can come between storing a blob and writing its row. Only blobs older
// than a grace period go, since a blob is stored before its row is written; each one is looked
// up again just before it is deleted, and one this process is storing (or stored lately) is
// left alone, since a bucket dates a multipart upload from its start, not its end.
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { artifactStorageKeys } from "../db/repos/artifacts.ts";
import { cacheStorageKeys } from "../db/repos/cache-entries.ts";
import { artifacts } from "../db/schema/artifacts.ts";
import { cacheEntries } from "../db/schema/cache-entries.ts";
import { checkBlobKey, putSince, type ArtifactStore } from "../stores/artifact-store.ts";
import { messageOf } from "../domain/errors.ts";

export interface ArtifactPruningOptions {
  db: Db;
  store: ArtifactStore;
  now?: () => Date;
  /** A blob younger than this may still be getting its row. */
  graceMs?: number;
  /** Where a blob left alone (a key the server never makes, a delete that failed) is reported; console.warn when absent. */
  warn?: (message: string) => void;
}

/** Whether a row refers to `key` now: asked at the last moment, not from a set read before the listing. */
const referencedNow = {
  "runs/": async (db: Db, key: string) =>
    (await db.select({ storageKey: artifacts.storageKey }).from(artifacts).where(eq(artifacts.storageKey, key)).limit(1)).length > 0,
  "caches/": async (db: Db, key: string) =>
    (await db.select({ storageKey: cacheEntries.storageKey }).from(cacheEntries).where(eq(cacheEntries.storageKey, key)).limit(1)).length > 0,
};


/** Removes unreferenced blobs under runs/ and caches/; returns how many. */
export async function pruneArtifactBlobs(options: ArtifactPruningOptions): Promise<number> {
  const { db, store } = options;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const cutoff = (options.now?.() ?? new Date()).getTime() - (options.graceMs ?? 3_600_000);
  let removed = 0;
  for (const [prefix, keysOf] of [
    ["runs/", artifactStorageKeys],
    ["caches/", cacheStorageKeys],
  ] as const) {
    // Read once, to pass over the blobs in use quickly; one that looks unused is asked about again.
    const referenced = await keysOf(db);
    for await (const blob of store.list(prefix)) {
      if (referenced.has(blob.key) || blob.modifiedAt.getTime() > cutoff) continue;
      // A key the server never makes (put in the bucket by hand): left alone, and the sweep goes on.
      try {
        checkBlobKey(blob.key);
      } catch (error) {
        warn(`artifact sweep: left ${store.location}/${blob.key} alone: ${messageOf(error)}`);
        continue;
      }
      if (putSince(blob.key, cutoff)) continue;
      // Its row may have been written since the keys were read (an upload that just ended).
      if (await referencedNow[prefix](db, blob.key)) continue;
      try {
        await store.delete(blob.key);
      } catch (error) {
        // Tried again next sweep; the other blobs go now.
        warn(`artifact sweep: could not delete ${store.location}/${blob.key}: ${messageOf(error)}`);
        continue;
      }
      removed++;
    }
  }
  return removed;
}
