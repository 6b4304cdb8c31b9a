// What the run page, its live stream and its raw log read about a run beside the run itself
// (db/repos/runs.ts requireRun): its version's tasks, and where it stands while queued.
import { getVersion, type VersionRow } from "../../db/repos/pipelines.ts";
import { queuePlaces } from "../../db/repos/run-queue.ts";
import type { RunRow, RunWithTasks } from "../../db/repos/runs.ts";
import type { Deps } from "../../deps.ts";
import type { QueuePlace } from "../../domain/admission.ts";
import { runRowKeyString } from "../../domain/run-key.ts";
import type { SpecTask } from "./components/run-live.tsx";

/** The run's version (undefined if it is gone). */
export function runVersionOf(deps: Deps, run: RunRow): Promise<VersionRow | undefined> {
  return getVersion(deps.db, { namespace: run.namespace, id: run.pipelineId }, run.version);
}

/** The tasks of a run's version (as runVersionOf read it), with their needs (the DAG's edges). */
export function tasksOfVersion(version: VersionRow | undefined): SpecTask[] {
  return version?.spec.tasks ?? [];
}

/** The tasks of the run's version, with their needs (the DAG's edges). */
export async function specTasksOf(deps: Deps, run: RunWithTasks): Promise<SpecTask[]> {
  return tasksOfVersion(await runVersionOf(deps, run));
}

/** Where the run stands in its queue, while it is queued. */
export async function queuePlaceOf(deps: Deps, run: RunWithTasks): Promise<QueuePlace | undefined> {
  if (run.state !== "queued") return undefined;
  return (await queuePlaces(deps.db, [run])).get(runRowKeyString(run));
}
