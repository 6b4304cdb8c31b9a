// After the last kill: nothing more is sent, every run must end. Then the checks, a graceful
// stop and one more start (its janitor runs), after which nothing of the harness may be left.
import { checkDeliveries, checkRuns, checkStreamLogs } from "./checks.ts";
import type { Harness } from "./context.ts";
import { taskProcesses } from "./leftovers.ts";
import { PIPELINES } from "./pipelines.ts";
import { kill9 } from "./server.ts";
import { FINAL_RUN_STATES, runKey, type RunJson } from "./state.ts";

/** Every run of the harness's pipelines, by "pipeline#run", paging through the API. */
async function listAll({ state, api }: Harness): Promise<Map<string, RunJson>> {
  const pipelineIds = PIPELINES.map((def) => `${state.prefix}${def.name}`);
  const found = new Map<string, RunJson>();
  for (const pipeline of pipelineIds) {
    let before: number | undefined;
    for (;;) {
      const response = await api(`/pipelines/default/${pipeline}/runs?limit=500${before !== undefined ? `&before=${before}` : ""}`);
      if (response.status !== 200) throw new Error(`listing runs of ${pipeline}: ${response.status} ${await response.text()}`);
      const { runs } = (await response.json()) as { runs: RunJson[] };
      for (const run of runs) found.set(runKey(pipeline, run.id), run);
      if (runs.length < 500) break;
      before = runs[runs.length - 1]!.id;
    }
  }
  return found;
}

export async function drainAndCheck(harness: Harness): Promise<void> {
  const { settings, paths, state, report, servers, containers, api } = harness;
  const drainDeadline = Date.now() + settings.drainTimeoutMs;
  let runs = await listAll(harness);
  while ([...runs.values()].some((run) => !FINAL_RUN_STATES.has(run.state)) && Date.now() < drainDeadline) {
    await Bun.sleep(500);
    runs = await listAll(harness);
  }
  // A moment for the clean-up that follows a run's end (containers removed, tokens revoked).
  await Bun.sleep(2_000);
  runs = await listAll(harness);

  checkRuns(state, runs, paths, report);
  await checkStreamLogs(api, runs, state.prefix, report, state.violations);
  await checkDeliveries(state, api, servers.current!.hooksUrl!, report);
  report.containersBeforeJanitor = (await containers.list()).length;

  // A graceful stop and a start let the janitor run; then nothing of ours may be left.
  const last = servers.current!;
  last.proc.kill("SIGTERM");
  const stopped = await Promise.race([last.proc.exited, Bun.sleep(30_000).then(() => "timeout" as const)]);
  if (stopped !== 0) state.violations.push(`the final graceful stop ended with ${stopped === "timeout" ? "no exit within 30 s" : `exit code ${stopped}`}`);
  await kill9(last);
  await servers.boot();
  const after = await listAll(harness);
  for (const [key, run] of runs) {
    const again = after.get(key);
    if (again?.state !== run.state) state.violations.push(`run ${key} was ${run.state} before the final restart and ${again?.state ?? "missing"} after it`);
  }
  for (const info of await containers.list()) {
    state.violations.push(
      `container ${info.Names[0] ?? info.Id} (${info.Labels["gantry.pipeline"]}#${info.Labels["gantry.run"]} ${info.Labels["gantry.task"]}, ${info.State}) is left after every run ended and the janitor ran`,
    );
  }
  const janitor = servers.current!;
  janitor.proc.kill("SIGTERM");
  await Promise.race([janitor.proc.exited, Bun.sleep(30_000)]);
  await kill9(janitor);
  // run() task runners are started with their version's bundle from the data dir.
  await Bun.sleep(1_500);
  for (const leftover of taskProcesses(paths.dataDir)) state.violations.push(`a task process is left: pid ${leftover.pid} ${leftover.command}`);
}
