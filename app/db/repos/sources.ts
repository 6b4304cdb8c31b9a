// Queries for git sources, the commits their syncs saw, and which version of each pipeline
// a commit left current.
import { and, desc, eq, like, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import { driverValue, prepared } from "../prepared.ts";
import { sourceCommits, sourcePipelineVersions, sources, type LastSync, type SourceState } from "../schema/index.ts";
import { NotFoundError } from "../../domain/errors.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import { sourceMoved, type CommitInfo, type SourceSettings } from "../../domain/sources.ts";

export type SourceRow = typeof sources.$inferSelect;
export type SourceCommitRow = typeof sourceCommits.$inferSelect;

export async function listSources(db: Db): Promise<SourceRow[]> {
  return db.select().from(sources).orderBy(sources.name);
}

export async function getSource(db: Db, name: string): Promise<SourceRow | undefined> {
  const [row] = await db.select().from(sources).where(eq(sources.name, name)).limit(1);
  return row;
}

/** The source, or NotFoundError "source <name> not found". */
export async function requireSource(db: Db, name: string): Promise<SourceRow> {
  const row = await getSource(db, name);
  if (!row) throw new NotFoundError(`source ${name} not found`);
  return row;
}

/** The settings of a source as its row holds them. */
export function settingsOf(row: SourceRow): SourceSettings {
  return {
    repo: row.repo,
    branch: row.branch,
    path: row.path,
    namespace: row.namespace,
    ...(row.auth !== null && { auth: row.auth }),
    ...(row.hookSecret !== null && { hookSecret: row.hookSecret }),
    pollIntervalMs: row.pollIntervalMs,
  };
}

/**
 * Creates or changes a source. A change of repository, branch or folder starts it afresh (the
 * next sync loads the new branch's head); the versions already made stay.
 */
export async function upsertSource(db: Db, name: string, settings: SourceSettings, definedIn: "api" | "config", now: Date): Promise<{ created: boolean; changed: boolean }> {
  const existing = await getSource(db, name);
  const values = {
    repo: settings.repo,
    branch: settings.branch,
    path: settings.path,
    namespace: settings.namespace,
    auth: settings.auth ?? null,
    hookSecret: settings.hookSecret ?? null,
    pollIntervalMs: settings.pollIntervalMs,
    definedIn,
    updatedAt: now,
  };
  if (!existing) {
    await db.insert(sources).values({ name, ...values, state: "new", createdAt: now });
    return { created: true, changed: true };
  }
  const moved = sourceMoved(settingsOf(existing), settings);
  const changed = moved || JSON.stringify(settingsOf(existing)) !== JSON.stringify(settings) || existing.definedIn !== definedIn;
  if (!changed) return { created: false, changed: false };
  await db
    .update(sources)
    .set({ ...values, ...(moved && { head: null, state: "new" as SourceState, lastError: null }) })
    .where(eq(sources.name, name));
  return { created: false, changed: true };
}

export async function updateSourceStatus(
  db: Db,
  name: string,
  status: { state?: SourceState; head?: CommitInfo | null; lastError?: string | null; lastSyncAt?: Date; lastCheckedAt?: Date; lastSync?: LastSync },
): Promise<void> {
  await db.update(sources).set(status).where(eq(sources.name, name));
}

// Looked at by every server each second, idle or not: built once, and only the due ones cross.
const dueQuery = prepared((db) =>
  db
    .select({ name: sources.name, pollIntervalMs: sources.pollIntervalMs })
    .from(sources)
    .where(sql`${sources.pollIntervalMs} > 0 and (${sources.lastCheckedAt} is null or ${sources.lastCheckedAt} <= ${driverValue("now")} - ${sources.pollIntervalMs})`)
    .orderBy(sources.name)
    .prepare(),
);

/** Sources that poll and whose last check is at least their interval old. */
export async function listDueSources(db: Db, now: Date): Promise<{ name: string; pollIntervalMs: number }[]> {
  return dueQuery(db).all({ now: now.getTime() });
}

/**
 * Takes a source's due poll: its last check moves to `now` only while it is at or before
 * `dueBefore`. False when another server (sharing the database) took this poll first.
 */
export async function claimSourceCheck(db: Db, name: string, now: Date, dueBefore: Date): Promise<boolean> {
  const rows = await db
    .update(sources)
    .set({ lastCheckedAt: now })
    .where(and(eq(sources.name, name), sql`(${sources.lastCheckedAt} is null or ${sources.lastCheckedAt} <= ${dueBefore.getTime()})`))
    .returning({ name: sources.name });
  return rows.length > 0;
}

/** Deletes a source and what its syncs recorded; its pipelines are retired by the caller. */
export async function deleteSource(db: Db, name: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(sourcePipelineVersions).where(eq(sourcePipelineVersions.source, name));
    await tx.delete(sourceCommits).where(eq(sourceCommits.source, name));
    await tx.delete(sources).where(eq(sources.name, name));
  });
}

/**
 * Records a commit a sync saw, not loaded until markCommitLoaded says so (once: a commit seen
 * again after a force-push keeps its place and its loaded mark), and returns its sequence number.
 */
export async function recordCommit(db: Db, source: string, commit: CommitInfo, now: Date): Promise<number> {
  const [known] = await db
    .select({ seq: sourceCommits.seq })
    .from(sourceCommits)
    .where(and(eq(sourceCommits.source, source), eq(sourceCommits.sha, commit.sha)));
  if (known) return known.seq;
  const [last] = await db.select({ max: sql<number>`coalesce(max(${sourceCommits.seq}), 0)` }).from(sourceCommits).where(eq(sourceCommits.source, source));
  const seq = (last?.max ?? 0) + 1;
  await db.insert(sourceCommits).values({
    source,
    sha: commit.sha,
    seq,
    author: commit.author,
    message: commit.message,
    committedAt: commit.committedAt,
    loaded: false,
    syncedAt: now,
  });
  return seq;
}

/** Marks a recorded commit as loaded: its folder made (or kept) the versions recorded at its seq. */
export async function markCommitLoaded(db: Db, source: string, seq: number): Promise<void> {
  await db.update(sourceCommits).set({ loaded: true }).where(and(eq(sourceCommits.source, source), eq(sourceCommits.seq, seq)));
}

/** Notes which version of a pipeline a commit left current (null: the commit removed it). */
export async function recordVersionAtCommit(db: Db, source: string, seq: number, key: PipelineKey, version: number | null): Promise<void> {
  await db
    .insert(sourcePipelineVersions)
    .values({ source, seq, namespace: key.namespace, pipelineId: key.id, version })
    .onConflictDoUpdate({
      target: [sourcePipelineVersions.source, sourcePipelineVersions.namespace, sourcePipelineVersions.pipelineId, sourcePipelineVersions.seq],
      set: { version },
    });
}

/** Commits of a source, newest first. */
export async function listSourceCommits(db: Db, source: string, limit = 50): Promise<SourceCommitRow[]> {
  return db.select().from(sourceCommits).where(eq(sourceCommits.source, source)).orderBy(desc(sourceCommits.seq)).limit(limit);
}

/** Synced commits of a source whose sha starts with `prefix` (a person's short sha). */
export async function findSourceCommits(db: Db, source: string, prefix: string): Promise<SourceCommitRow[]> {
  return db
    .select()
    .from(sourceCommits)
    .where(and(eq(sourceCommits.source, source), like(sourceCommits.sha, `${prefix.replace(/[%_]/g, "")}%`)))
    .limit(2);
}

/**
 * The version of a pipeline a loaded commit (by its seq) left current; null when the commit
 * removed it, undefined when the pipeline was not defined then.
 */
export async function versionAtCommit(db: Db, source: string, key: PipelineKey, seq: number): Promise<number | null | undefined> {
  const [row] = await db
    .select({ version: sourcePipelineVersions.version })
    .from(sourcePipelineVersions)
    .where(
      and(
        eq(sourcePipelineVersions.source, source),
        eq(sourcePipelineVersions.namespace, key.namespace),
        eq(sourcePipelineVersions.pipelineId, key.id),
        eq(sourcePipelineVersions.seq, seq),
      ),
    )
    .limit(1);
  return row === undefined ? undefined : row.version;
}

/** The commits of a source whose folder was loaded. */
export async function listLoadedCommits(db: Db, source: string): Promise<SourceCommitRow[]> {
  return db.select().from(sourceCommits).where(and(eq(sourceCommits.source, source), eq(sourceCommits.loaded, true)));
}
