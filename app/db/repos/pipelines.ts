// Queries for pipelines and their versions.
import { and, asc, desc, eq, inArray, isNull, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { pipelines, pipelineVersions, subscriptions, type LoadErrorRecord } from "../schema/index.ts";
import { prepared } from "../prepared.ts";
import type { PipelineSpec } from "../../domain/pipeline-spec.ts";
import { NotFoundError } from "../../domain/errors.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { VersionOrigin } from "../../domain/sources.ts";

export type PipelineRow = typeof pipelines.$inferSelect;
export type VersionRow = typeof pipelineVersions.$inferSelect;

// Every run starts with this read: built once (prepared.ts).
const pipelineQuery = prepared((db) =>
  db
    .select()
    .from(pipelines)
    .where(and(eq(pipelines.namespace, sql.placeholder("namespace")), eq(pipelines.id, sql.placeholder("id")), isNull(pipelines.deletedAt)))
    .limit(1)
    .prepare(),
);

export async function getPipeline(db: Db, key: PipelineKey): Promise<PipelineRow | undefined> {
  const [row] = await pipelineQuery(db).all({ namespace: key.namespace, id: key.id });
  return row;
}

/**
 * The spec of the pipeline's current version, in one query whether the pipeline is missing,
 * has no version yet or has one (the public badge answers all alike, in the same time).
 */
export async function currentSpec(db: Db, key: PipelineKey): Promise<PipelineSpec | undefined> {
  const [row] = await db
    .select({ spec: pipelineVersions.spec })
    .from(pipelines)
    .innerJoin(
      pipelineVersions,
      and(eq(pipelineVersions.namespace, pipelines.namespace), eq(pipelineVersions.pipelineId, pipelines.id), eq(pipelineVersions.version, pipelines.currentVersion)),
    )
    .where(and(eq(pipelines.namespace, key.namespace), eq(pipelines.id, key.id), isNull(pipelines.deletedAt)))
    .limit(1);
  return row?.spec;
}

/** The pipeline, or NotFoundError "pipeline <ns>/<id> not found". */
export async function requirePipeline(db: Db, key: PipelineKey): Promise<PipelineRow> {
  const row = await getPipeline(db, key);
  if (!row) throw new NotFoundError(`pipeline ${key.namespace}/${key.id} not found`);
  return row;
}

export async function listPipelines(db: Db, namespace?: string): Promise<PipelineRow[]> {
  return db
    .select()
    .from(pipelines)
    .where(and(isNull(pipelines.deletedAt), namespace ? eq(pipelines.namespace, namespace) : undefined))
    .orderBy(asc(pipelines.namespace), asc(pipelines.id));
}

/** Pipelines a git source defines (null: the local folder's). */
export async function listPipelinesOf(db: Db, source: string | null): Promise<PipelineRow[]> {
  return db
    .select()
    .from(pipelines)
    .where(and(isNull(pipelines.deletedAt), source === null ? isNull(pipelines.source) : eq(pipelines.source, source)))
    .orderBy(asc(pipelines.namespace), asc(pipelines.id));
}

// Read by every rescan of the pipelines folder (every few seconds): built once, three columns.
const localFilesQuery = prepared((db) =>
  db
    .select({ namespace: pipelines.namespace, id: pipelines.id, file: pipelines.file })
    .from(pipelines)
    .where(and(isNull(pipelines.deletedAt), isNull(pipelines.source)))
    .orderBy(asc(pipelines.namespace), asc(pipelines.id))
    .prepare(),
);

/** The live pipelines of the local folder, by the file that defines each. */
export async function listLocalPipelineFiles(db: Db): Promise<(PipelineKey & { file: string })[]> {
  return localFilesQuery(db).all();
}

/** listPipelinesOf each of these git sources, in one query; every one named has an entry (maybe empty). */
export async function listPipelinesOfSources(db: Db, sources: readonly string[]): Promise<Map<string, PipelineRow[]>> {
  const bySource = new Map<string, PipelineRow[]>(sources.map((source) => [source, []]));
  if (sources.length === 0) return bySource;
  const rows = await db
    .select()
    .from(pipelines)
    .where(and(isNull(pipelines.deletedAt), inArray(pipelines.source, [...sources])))
    .orderBy(asc(pipelines.namespace), asc(pipelines.id));
  for (const row of rows) if (row.source !== null) bySource.get(row.source)?.push(row);
  return bySource;
}

/** Records that a file (of a source, or of the local folder when null) now defines this pipeline, creating or reviving it. */
export async function upsertPipeline(db: Db, key: PipelineKey, file: string, now: Date, source: string | null = null): Promise<void> {
  await db
    .insert(pipelines)
    .values({ ...key, file, source, updatedAt: now })
    .onConflictDoUpdate({
      target: [pipelines.namespace, pipelines.id],
      set: { file, source, deletedAt: null, updatedAt: now },
    });
}

/**
 * Stores a version unless the same content is already one, and makes it current.
 * Returns the version number and whether it is new.
 */
export async function addVersion(
  db: Db,
  key: PipelineKey,
  version: {
    hash: string;
    bundlePath: string;
    spec: PipelineSpec;
    file: string;
    /** The git source it comes from; null or absent for the local folder. */
    source?: string | null;
    origin?: VersionOrigin;
    files?: Record<string, string>;
  },
  now: Date,
): Promise<{ version: number; created: boolean }> {
  const source = version.source ?? null;
  return db.transaction(async (tx) => {
    await tx
      .insert(pipelines)
      .values({ ...key, file: version.file, source, updatedAt: now })
      .onConflictDoUpdate({ target: [pipelines.namespace, pipelines.id], set: { file: version.file, source, deletedAt: null, updatedAt: now } });
    const existing = await tx.query.pipelineVersions.findFirst({
      where: and(
        eq(pipelineVersions.namespace, key.namespace),
        eq(pipelineVersions.pipelineId, key.id),
        eq(pipelineVersions.hash, version.hash),
      ),
    });
    let number = existing?.version;
    const created = existing === undefined;
    if (number === undefined) {
      const [last] = await tx
        .select({ max: sql<number>`coalesce(max(${pipelineVersions.version}), 0)` })
        .from(pipelineVersions)
        .where(and(eq(pipelineVersions.namespace, key.namespace), eq(pipelineVersions.pipelineId, key.id)));
      number = (last?.max ?? 0) + 1;
      await tx.insert(pipelineVersions).values({
        namespace: key.namespace,
        pipelineId: key.id,
        version: number,
        hash: version.hash,
        bundlePath: version.bundlePath,
        spec: version.spec,
        origin: version.origin ?? null,
        files: version.files ?? null,
        createdAt: now,
      });
    }
    await tx
      .update(pipelines)
      .set({ currentVersion: number, loadError: null, updatedAt: now })
      .where(and(eq(pipelines.namespace, key.namespace), eq(pipelines.id, key.id)));
    return { version: number, created };
  });
}

export async function setLoadError(db: Db, key: PipelineKey, error: LoadErrorRecord | null, now: Date): Promise<void> {
  await db
    .update(pipelines)
    .set({ loadError: error, updatedAt: now })
    .where(and(eq(pipelines.namespace, key.namespace), eq(pipelines.id, key.id)));
}

/** Pipelines whose file is this path (normally one), of a source or of the local folder when null. */
export async function findPipelinesByFile(db: Db, file: string, source: string | null = null): Promise<PipelineRow[]> {
  return db
    .select()
    .from(pipelines)
    .where(and(eq(pipelines.file, file), source === null ? isNull(pipelines.source) : eq(pipelines.source, source), isNull(pipelines.deletedAt)));
}

/**
 * Retires a pipeline and deletes its subscriptions with it (left behind, its triggers would
 * fire into a missing pipeline forever). Returns whether any subscription was deleted.
 */
export async function markPipelineDeleted(db: Db, key: PipelineKey, now: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx
      .update(pipelines)
      .set({ deletedAt: now, updatedAt: now })
      .where(and(eq(pipelines.namespace, key.namespace), eq(pipelines.id, key.id)));
    const deleted = await tx
      .delete(subscriptions)
      .where(and(eq(subscriptions.namespace, key.namespace), eq(subscriptions.pipelineId, key.id)))
      .returning({ id: subscriptions.id });
    return deleted.length > 0;
  });
}

export async function getVersion(db: Db, key: PipelineKey, version: number): Promise<VersionRow | undefined> {
  return db.query.pipelineVersions.findFirst({
    where: and(
      eq(pipelineVersions.namespace, key.namespace),
      eq(pipelineVersions.pipelineId, key.id),
      eq(pipelineVersions.version, version),
    ),
  });
}

export async function listVersions(db: Db, key: PipelineKey): Promise<VersionRow[]> {
  return db
    .select()
    .from(pipelineVersions)
    .where(and(eq(pipelineVersions.namespace, key.namespace), eq(pipelineVersions.pipelineId, key.id)))
    .orderBy(desc(pipelineVersions.version));
}
