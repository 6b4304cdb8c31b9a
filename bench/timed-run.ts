// Shared by the benchmarks: one run through the orchestrator, timed from start to its
// persisted end; a run that does not succeed stops the bench with its tasks' reasons.
import type { Deps } from "../app/deps.ts";
import type { PipelineKey } from "../app/db/repos/pipelines.ts";
import { getRun } from "../app/db/repos/runs.ts";

/** Starts a run and resolves with its wall time once it has finished (state persisted); throws if it failed. */
export async function timedRun(deps: Deps, key: PipelineKey): Promise<number> {
  const started = performance.now();
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let runId = -1;
  const unsubscribe = deps.bus.subscribe((message) => {
    if (message.kind === "run.finished" && message.pipeline === key.id && message.run === runId) resolveDone();
  });
  const run = await deps.orchestrator.startRun(key, { trigger: { kind: "bench" } });
  runId = run.id;
  await done;
  const elapsed = performance.now() - started;
  unsubscribe();
  const stored = await getRun(deps.db, { ...key, run: runId });
  if (stored?.state !== "successful") {
    const failed = stored?.tasks.filter((task) => task.state !== "successful").map((task) => `${task.taskId}: ${task.reason}`);
    throw new Error(`run ${key.id}#${runId} ended ${stored?.state}: ${stored?.reason}\n  ${failed?.join("\n  ")}`);
  }
  return elapsed;
}
