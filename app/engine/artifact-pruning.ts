// Deletes artifact and cache blobs no row refers to: rows go with their run (a cascade) or are
// replaced, and a crash can come between storing a blob and writing its row. Only blobs older
// than a grace period go, since a blob is stored before its row is written.
import type { Db } from "../db/client.ts";
import { artifactStorageKeys } from "../db/repos/artifacts.ts";
import { cacheStorageKeys } from "../db/repos/cache-entries.ts";
import type { ArtifactStore } from "../stores/artifact-store.ts";

export interface ArtifactPruningOptions {
  db: Db;
  store: ArtifactStore;
  now?: () => Date;
  /** A blob younger than this may still be getting its row. */
  graceMs?: number;
}

/** Removes unreferenced blobs under runs/ and caches/; returns how many. */
export async function pruneArtifactBlobs(options: ArtifactPruningOptions): Promise<number> {
  const { db, store } = options;
  const cutoff = (options.now?.() ?? new Date()).getTime() - (options.graceMs ?? 3_600_000);
  let removed = 0;
  for (const [prefix, keysOf] of [
    ["runs/", artifactStorageKeys],
    ["caches/", cacheStorageKeys],
  ] as const) {
    // Read after the listing would race a row written meanwhile; the grace period covers that.
    const referenced = await keysOf(db);
    for await (const blob of store.list(prefix)) {
      if (referenced.has(blob.key) || blob.modifiedAt.getTime() > cutoff) continue;
      await store.delete(blob.key);
      removed++;
    }
  }
  return removed;
}
