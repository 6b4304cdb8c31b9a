// Queries for object metadata: lookups, upsert with eviction of the oldest, and expiry of
// run objects once enough later runs of their pipeline exist.
import { and, asc, count, eq, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { objects, pipelines, type ObjectScopeKind } from "../schema/index.ts";
import { prepared } from "../prepared.ts";

export type ObjectRow = typeof objects.$inferSelect;

/** Where objects live: a pipeline's own, or one run's (runId 0 for the pipeline). */
export interface ObjectPlace {
  scope: ObjectScopeKind;
  namespace: string;
  pipelineId: string;
  runId: number;
}

const placeWhere = (place: ObjectPlace) =>
  and(
    eq(objects.scope, place.scope),
    eq(objects.namespace, place.namespace),
    eq(objects.pipelineId, place.pipelineId),
    eq(objects.runId, place.runId),
  );

export async function getObject(db: Db, place: ObjectPlace, key: string): Promise<ObjectRow | undefined> {
  return db.query.objects.findFirst({ where: and(placeWhere(place), eq(objects.key, key)) });
}

export async function listObjects(db: Db, place: ObjectPlace): Promise<ObjectRow[]> {
  return db.select().from(objects).where(placeWhere(place)).orderBy(asc(objects.key));
}

export interface PutObjectRow {
  key: string;
  size: number;
  sha256: string;
  now: Date;
}

/**
 * Creates or replaces an object's row and, when `limit` is given, deletes the least
 * recently written objects of the place beyond it — all in one transaction. Returns whether
 * the object is new and the evicted rows (their files are the caller's to remove).
 */
export async function putObject(
  db: Db,
  place: ObjectPlace,
  object: PutObjectRow,
  limit?: number,
): Promise<{ row: ObjectRow; created: boolean; evicted: ObjectRow[] }> {
  return db.transaction(async (tx) => {
    const existing = await tx.query.objects.findFirst({ where: and(placeWhere(place), eq(objects.key, object.key)) });
    const seq = sql`(select coalesce(max(${objects.seq}), 0) + 1 from ${objects})`;
    const [row] = await tx
      .insert(objects)
      .values({ ...place, key: object.key, size: object.size, sha256: object.sha256, seq, createdAt: object.now, updatedAt: object.now })
      .onConflictDoUpdate({
        target: [objects.scope, objects.namespace, objects.pipelineId, objects.runId, objects.key],
        set: { size: object.size, sha256: object.sha256, seq, updatedAt: object.now },
      })
      .returning();
    let evicted: ObjectRow[] = [];
    if (limit !== undefined) {
      const [total] = await tx.select({ n: count() }).from(objects).where(placeWhere(place));
      const excess = (total?.n ?? 0) - limit;
      if (excess > 0) {
        const oldest = await tx.select().from(objects).where(placeWhere(place)).orderBy(asc(objects.seq)).limit(excess);
        for (const victim of oldest) await tx.delete(objects).where(and(placeWhere(place), eq(objects.key, victim.key)));
        evicted = oldest;
      }
    }
    return { row: row!, created: !existing, evicted };
  });
}

export async function deleteObject(db: Db, place: ObjectPlace, key: string): Promise<boolean> {
  const rows = await db
    .delete(objects)
    .where(and(placeWhere(place), eq(objects.key, key)))
    .returning({ key: objects.key });
  return rows.length > 0;
}

/** Run objects whose run has at least `runExpiry` later runs: `run_id + runExpiry <= last_run_id`. */
const expiredRunObjects = (runExpiry: number, pipeline?: { namespace: string; id: string }) =>
  and(
    eq(objects.scope, "run"),
    pipeline ? and(eq(objects.namespace, pipeline.namespace), eq(objects.pipelineId, pipeline.id)) : undefined,
    sql`${objects.runId} + ${runExpiry} <= (select ${pipelines.lastRunId} from ${pipelines} where ${pipelines.namespace} = ${objects.namespace} and ${pipelines.id} = ${objects.pipelineId})`,
  );

/** The read every run's start makes for its pipeline, built once. */
const expiredOfPipelineQuery = prepared((db) =>
  db
    .selectDistinct({ namespace: objects.namespace, pipelineId: objects.pipelineId, runId: objects.runId })
    .from(objects)
    .where(expiredRunObjects(sql.placeholder("runExpiry") as unknown as number, { namespace: sql.placeholder("namespace") as unknown as string, id: sql.placeholder("id") as unknown as string }))
    .prepare(),
);

/**
 * Deletes the rows of expired run objects (of one pipeline, or of all) and returns the runs
 * they belonged to, so the caller can remove their folders. A read first: the usual answer
 * is "none", and that should not cost a write transaction.
 */
export async function expireRunObjects(
  db: Db,
  runExpiry: number,
  pipeline?: { namespace: string; id: string },
): Promise<{ namespace: string; pipelineId: string; runId: number }[]> {
  const where = expiredRunObjects(runExpiry, pipeline);
  const runs = pipeline
    ? await expiredOfPipelineQuery(db).all({ runExpiry, namespace: pipeline.namespace, id: pipeline.id })
    : await db.selectDistinct({ namespace: objects.namespace, pipelineId: objects.pipelineId, runId: objects.runId }).from(objects).where(where);
  if (runs.length === 0) return [];
  await db.delete(objects).where(where);
  return runs;
}
