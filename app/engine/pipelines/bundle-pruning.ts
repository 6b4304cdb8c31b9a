// Old pipeline bundles go, so a busy pipelines folder (every edit is a bundle, with its npm
// imports inside) does not fill the disk. A bundle stays while a pipeline's current version,
// one of its newest versions, an unfinished run or one of its source's newest commits uses it, and for an hour after it was
// written (the loader writes a bundle before it records its version). A pruned version
// keeps its row; its bundle is written again if its file ever returns to that content.
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { desc, inArray, sql } from "drizzle-orm";
import type { Db } from "../../db/client.ts";
import { pipelines, pipelineVersions, runs, sourceCommits, sourcePipelineVersions } from "../../db/schema/index.ts";
import type { RunState } from "../../domain/states.ts";

/** Versions per pipeline whose bundles stay, newest first (besides the current one). */
export const BUNDLE_KEEP_VERSIONS = 5;
/** A source's newest synced commits whose versions stay runnable (`gantry run start --commit`). */
export const BUNDLE_KEEP_COMMITS = 50;
const FRESH_MS = 3_600_000;

async function bundlesInUse(db: Db): Promise<Set<string>> {
  const versionKey = (namespace: string, pipeline: string, version: number | null) => `${namespace}/${pipeline}@${version}`;
  const current = await db.select({ namespace: pipelines.namespace, id: pipelines.id, version: pipelines.currentVersion }).from(pipelines);
  const unfinished: RunState[] = ["queued", "pending", "running"];
  const running = await db
    .select({ namespace: runs.namespace, id: runs.pipelineId, version: runs.version })
    .from(runs)
    .where(inArray(runs.state, unfinished));
  // Versions the newest synced commits of each source left current: a run pinned to one of them needs its bundle.
  const pinnable = await db
    .select({ namespace: sourcePipelineVersions.namespace, id: sourcePipelineVersions.pipelineId, version: sourcePipelineVersions.version })
    .from(sourcePipelineVersions)
    .where(
      sql`${sourcePipelineVersions.seq} > (select coalesce(max(${sourceCommits.seq}), 0) - ${BUNDLE_KEEP_COMMITS} from ${sourceCommits} where ${sourceCommits.source} = ${sourcePipelineVersions.source})`,
    );
  const needed = new Set([...current, ...running, ...pinnable].map((row) => versionKey(row.namespace, row.id, row.version)));
  const versions = await db
    .select({ namespace: pipelineVersions.namespace, id: pipelineVersions.pipelineId, version: pipelineVersions.version, bundlePath: pipelineVersions.bundlePath })
    .from(pipelineVersions)
    .orderBy(pipelineVersions.namespace, pipelineVersions.pipelineId, desc(pipelineVersions.version));
  const keep = new Set<string>();
  const newer = new Map<string, number>();
  for (const row of versions) {
    const pipeline = `${row.namespace}/${row.id}`;
    const rank = newer.get(pipeline) ?? 0;
    newer.set(pipeline, rank + 1);
    if (rank < BUNDLE_KEEP_VERSIONS || needed.has(versionKey(row.namespace, row.id, row.version))) keep.add(row.bundlePath);
  }
  return keep;
}

/** Deletes bundles nothing needs any more; returns how many. */
export async function pruneBundles(db: Db, bundlesDir: string, now: Date): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(bundlesDir);
  } catch {
    return 0;
  }
  const keep = await bundlesInUse(db);
  let removed = 0;
  for (const name of names) {
    const path = join(bundlesDir, name);
    if (keep.has(path) || !/\.js(\.\d+\.tmp)?$/.test(name)) continue;
    try {
      if (now.getTime() - statSync(path).mtimeMs < FRESH_MS) continue;
      rmSync(path, { force: true });
      removed++;
    } catch {
      // gone already, or not ours to remove: the next prune looks again
    }
  }
  return removed;
}
