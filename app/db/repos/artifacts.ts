// Queries for artifact rows: one run's (listed, one by name), the newest successful run's
// with a name, insert-or-replace, the producer's run of a reused task, and storage keys for sweeps.
import { and, asc, desc, eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { artifacts, runs } from "../schema/index.ts";
import type { PipelineKey } from "../../domain/pipeline-key.ts";
import type { RunKey } from "../../domain/run-key.ts";
import { executionWhere } from "./runs.ts";

export type ArtifactRow = typeof artifacts.$inferSelect;

const runWhere = (key: RunKey) => and(eq(artifacts.namespace, key.namespace), eq(artifacts.pipelineId, key.id), eq(artifacts.runId, key.run));

export async function listRunArtifacts(db: Db, key: RunKey): Promise<ArtifactRow[]> {
  return db.select().from(artifacts).where(runWhere(key)).orderBy(asc(artifacts.name));
}

export async function getArtifact(db: Db, key: RunKey, name: string): Promise<ArtifactRow | undefined> {
  return db.query.artifacts.findFirst({ where: and(runWhere(key), eq(artifacts.name, name)) });
}

/** The artifact `name` of the newest successful run of the pipeline that stored one. */
export async function latestSuccessfulArtifact(db: Db, pipeline: PipelineKey, name: string): Promise<ArtifactRow | undefined> {
  const [row] = await db
    .select({ artifact: artifacts })
    .from(artifacts)
    .innerJoin(runs, and(eq(runs.namespace, artifacts.namespace), eq(runs.pipelineId, artifacts.pipelineId), eq(runs.id, artifacts.runId)))
    .where(and(eq(artifacts.namespace, pipeline.namespace), eq(artifacts.pipelineId, pipeline.id), eq(artifacts.name, name), eq(runs.state, "successful")))
    .orderBy(desc(artifacts.runId))
    .limit(1);
  return row?.artifact;
}

/**
 * Stores an artifact's row, replacing one of the same name in the run; returns the storage
 * key of the replaced row (its blob is the caller's to delete), if any.
 */
export async function putArtifact(db: Db, row: ArtifactRow): Promise<string | undefined> {
  return db.transaction(async (tx) => {
    const key = { namespace: row.namespace, id: row.pipelineId, run: row.runId };
    const existing = await tx.query.artifacts.findFirst({ where: and(runWhere(key), eq(artifacts.name, row.name)) });
    await tx
      .insert(artifacts)
      .values(row)
      .onConflictDoUpdate({
        target: [artifacts.namespace, artifacts.pipelineId, artifacts.runId, artifacts.name],
        set: { taskId: row.taskId, path: row.path, kind: row.kind, size: row.size, sha256: row.sha256, storageKey: row.storageKey, createdAt: row.createdAt },
      });
    return existing && existing.storageKey !== row.storageKey ? existing.storageKey : undefined;
  });
}

/**
 * The run whose execution of `task` really ran: this one, or for a task a re-run reused, the
 * run it was kept from (followed back a few steps). Undefined when the run has no such task.
 */
export async function producingRun(db: Db, key: RunKey, task: string): Promise<number | undefined> {
  let run = key.run;
  for (let hop = 0; hop < 16; hop++) {
    const execution = await db.query.taskExecutions.findFirst({
      columns: { reusedFrom: true },
      where: executionWhere({ ...key, run }, task),
    });
    if (!execution) return hop === 0 ? undefined : run;
    if (execution.reusedFrom === null || execution.reusedFrom === run) return run;
    run = execution.reusedFrom;
  }
  return run;
}

/** Every storage key a row refers to: a blob not among them is no one's. */
export async function artifactStorageKeys(db: Db): Promise<Set<string>> {
  const rows = await db.select({ storageKey: artifacts.storageKey }).from(artifacts);
  return new Set(rows.map((row) => row.storageKey));
}
