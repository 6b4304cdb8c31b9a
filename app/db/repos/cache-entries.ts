// Queries for a pipeline's cache entries (exact and prefix lookups, insert-or-replace,
// least-recently-used eviction), and the cache result recorded on a task's execution.
import { and, asc, desc, eq, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { cacheEntries, taskExecutions } from "../schema/index.ts";
import type { CacheResult } from "../../domain/task-files.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { RunKey } from "../../domain/run-key.ts";
import { executionWhere } from "./runs.ts";

export type CacheEntryRow = typeof cacheEntries.$inferSelect;

const pipelineWhere = (pipeline: PipelineKey) => and(eq(cacheEntries.namespace, pipeline.namespace), eq(cacheEntries.pipelineId, pipeline.id));

export async function listCacheEntries(db: Db, pipeline: PipelineKey): Promise<CacheEntryRow[]> {
  return db.select().from(cacheEntries).where(pipelineWhere(pipeline)).orderBy(desc(cacheEntries.lastUsedAt), asc(cacheEntries.key));
}

export async function getCacheEntry(db: Db, pipeline: PipelineKey, key: string): Promise<CacheEntryRow | undefined> {
  return db.query.cacheEntries.findFirst({ where: and(pipelineWhere(pipeline), eq(cacheEntries.key, key)) });
}

/** The newest entry (by when it was saved) whose key starts with `prefix`. */
export async function newestCacheEntryWithPrefix(db: Db, pipeline: PipelineKey, prefix: string): Promise<CacheEntryRow | undefined> {
  // instr, not LIKE: a prefix is taken literally, "%" and "_" included.
  const [row] = await db
    .select()
    .from(cacheEntries)
    .where(and(pipelineWhere(pipeline), sql`instr(${cacheEntries.key}, ${prefix}) = 1`))
    .orderBy(desc(cacheEntries.createdAt), desc(cacheEntries.key))
    .limit(1);
  return row;
}

/** Marks an entry used now (for LRU eviction), unless it was replaced meanwhile. */
export async function touchCacheEntry(db: Db, row: CacheEntryRow, now: Date): Promise<void> {
  await db
    .update(cacheEntries)
    .set({ lastUsedAt: now })
    .where(and(pipelineWhere({ namespace: row.namespace, id: row.pipelineId }), eq(cacheEntries.key, row.key), eq(cacheEntries.storageKey, row.storageKey)));
}

/**
 * Stores an entry in one statement inside a transaction: a concurrent save of the same key
 * either comes before (and is replaced) or after (and replaces this one), so one intact
 * entry remains. Returns the storage key of the replaced entry (its blob is the caller's to delete).
 */
export async function putCacheEntry(db: Db, row: CacheEntryRow): Promise<string | undefined> {
  return db.transaction(async (tx) => {
    const existing = await tx.query.cacheEntries.findFirst({ where: and(pipelineWhere({ namespace: row.namespace, id: row.pipelineId }), eq(cacheEntries.key, row.key)) });
    await tx
      .insert(cacheEntries)
      .values(row)
      .onConflictDoUpdate({
        target: [cacheEntries.namespace, cacheEntries.pipelineId, cacheEntries.key],
        set: { size: row.size, sha256: row.sha256, storageKey: row.storageKey, runId: row.runId, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt },
      });
    return existing && existing.storageKey !== row.storageKey ? existing.storageKey : undefined;
  });
}

/** Deletes an entry, only if it still is the one with `storageKey` (a corrupted blob found on restore). */
export async function deleteCacheEntry(db: Db, row: CacheEntryRow): Promise<boolean> {
  const deleted = await db
    .delete(cacheEntries)
    .where(and(pipelineWhere({ namespace: row.namespace, id: row.pipelineId }), eq(cacheEntries.key, row.key), eq(cacheEntries.storageKey, row.storageKey)))
    .returning({ key: cacheEntries.key });
  return deleted.length > 0;
}

/**
 * Deletes the least recently used entries of a pipeline until its entries together hold at
 * most `maxBytes`; returns the deleted rows (their blobs are the caller's to delete).
 */
export async function evictCacheEntries(db: Db, pipeline: PipelineKey, maxBytes: number): Promise<CacheEntryRow[]> {
  return db.transaction(async (tx) => {
    const rows = await tx.select().from(cacheEntries).where(pipelineWhere(pipeline)).orderBy(asc(cacheEntries.lastUsedAt), asc(cacheEntries.createdAt));
    let total = rows.reduce((sum, row) => sum + row.size, 0);
    const evicted: CacheEntryRow[] = [];
    for (const row of rows) {
      if (total <= maxBytes) break;
      await tx.delete(cacheEntries).where(and(pipelineWhere(pipeline), eq(cacheEntries.key, row.key), eq(cacheEntries.storageKey, row.storageKey)));
      evicted.push(row);
      total -= row.size;
    }
    return evicted;
  });
}

/** Every storage key an entry refers to: a cache blob not among them is no one's. */
export async function cacheStorageKeys(db: Db): Promise<Set<string>> {
  const rows = await db.select({ storageKey: cacheEntries.storageKey }).from(cacheEntries);
  return new Set(rows.map((row) => row.storageKey));
}

/** Records what became of a task's cache on its execution (shown in the run's JSON and page). */
export async function recordCacheResult(db: Db, key: RunKey, task: string, result: CacheResult): Promise<void> {
  await db.update(taskExecutions).set({ cacheResult: result }).where(executionWhere(key, task));
}

export async function getCacheResult(db: Db, key: RunKey, task: string): Promise<CacheResult | undefined> {
  const row = await db.query.taskExecutions.findFirst({ columns: { cacheResult: true }, where: executionWhere(key, task) });
  return row?.cacheResult ?? undefined;
}
