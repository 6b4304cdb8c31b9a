// Old pipeline bundles go, so a busy pipelines folder (every edit is a bundle, with its npm
// imports inside) does not fill the disk. A bundle stays while a pipeline's current version,
// one of its newest versions or an unfinished run uses it, and for an hour after it was
// written (the loader writes a bundle before it records its version). A pruned version
// keeps its row; its bundle is written again if its file ever returns to that content.
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { and, desc, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { pipelines, pipelineVersions, runs } from "../db/schema/index.ts";
import type { RunState } from "../domain/states.ts";

/** Versions per pipeline whose bundles stay, newest first (besides the current one). */
export const BUNDLE_KEEP_VERSIONS = 5;
const FRESH_MS = 3_600_000;

async function bundlesInUse(db: Db): Promise<Set<string>> {
  const keep = new Set<string>();
  const current = await db
    .select({ bundlePath: pipelineVersions.bundlePath })
    .from(pipelines)
    .innerJoin(
      pipelineVersions,
      and(eq(pipelineVersions.namespace, pipelines.namespace), eq(pipelineVersions.pipelineId, pipelines.id), eq(pipelineVersions.version, pipelines.currentVersion)),
    );
  for (const row of current) keep.add(row.bundlePath);
  const unfinished: RunState[] = ["pending", "running"];
  const running = await db
    .select({ bundlePath: pipelineVersions.bundlePath })
    .from(runs)
    .innerJoin(
      pipelineVersions,
      and(eq(pipelineVersions.namespace, runs.namespace), eq(pipelineVersions.pipelineId, runs.pipelineId), eq(pipelineVersions.version, runs.version)),
    )
    .where(inArray(runs.state, unfinished));
  for (const row of running) keep.add(row.bundlePath);
  const versions = await db
    .select({ namespace: pipelineVersions.namespace, pipelineId: pipelineVersions.pipelineId, bundlePath: pipelineVersions.bundlePath })
    .from(pipelineVersions)
    .orderBy(pipelineVersions.namespace, pipelineVersions.pipelineId, desc(pipelineVersions.version));
  const seen = new Map<string, number>();
  for (const row of versions) {
    const pipeline = `${row.namespace}/${row.pipelineId}`;
    const count = seen.get(pipeline) ?? 0;
    if (count < BUNDLE_KEEP_VERSIONS) keep.add(row.bundlePath);
    seen.set(pipeline, count + 1);
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
