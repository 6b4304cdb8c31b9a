// The kills: the server runs for a random while under the driver's requests, is killed with
// SIGKILL and started again on the same data, `kills` times; now and then the kill lands
// during start-up instead. Returns with one more start up and answering.
import type { Harness } from "./context.ts";
import { Driver } from "./driver.ts";
import { taskProcesses } from "./leftovers.ts";
import { between } from "./random.ts";
import { kill9 } from "./server.ts";
import { FINAL_RUN_STATES } from "./state.ts";

export async function killAndRestart({ settings, began, paths, state, report, servers, containers }: Harness): Promise<void> {
  // Kills not yet followed by a start that answered.
  let unanswered = 0;
  const answered = async (url: string) => {
    const response = await fetch(`${url}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
    if (response.status !== 200) throw new Error(`after ${report.kills} kills the server came back but /api/v1/health answered ${response.status}`);
    report.survived += unanswered;
    unanswered = 0;
  };
  const progress = (kill: number) => {
    if (!settings.progress || kill % settings.progressEvery !== 0) return;
    const outstanding = [...state.acked.values()].filter((run) => !FINAL_RUN_STATES.has(run.state)).length;
    settings.progress(
      `kill ${kill}/${settings.kills}: ${((performance.now() - began) / 1000).toFixed(0)} s, runs acknowledged ${state.acked.size}, deliveries ${state.deliveries.length}, cancels ${state.cancelsAcked.size}, unfinished ${outstanding}, violations so far ${state.violations.length}`,
    );
  };
  for (let kill = 1; kill <= settings.kills; kill++) {
    if (unanswered > 0) {
      const starting = servers.spawn();
      // Now and then the kill lands while the server is still starting (recovering runs, starting extensions).
      if (Math.random() < settings.startupKillShare) {
        await Promise.race([starting.ready.catch(() => undefined), Bun.sleep(between(100, 1_200))]);
        if (!starting.url) {
          await kill9(starting);
          report.kills++;
          report.killsDuringStartup++;
          unanswered++;
          progress(kill);
          continue;
        }
      }
      await starting.ready;
      await answered(starting.url!);
    }
    const server = servers.current!;
    const driver = new Driver({ url: server.url!, hooksUrl: server.hooksUrl! }, state, settings.maxOutstanding);
    driver.start(settings.driverLoops);
    await Bun.sleep(between(settings.upMs[0], settings.upMs[1]));
    await kill9(server);
    report.kills++;
    unanswered++;
    await driver.stop();
    const left = await containers.list();
    report.containersAtKills += left.length;
    for (const info of left) {
      // Found by the pipeline prefix but not by the instance label: the harness's idea of the instance is wrong.
      if (info.Labels["gantry.instance"] !== containers.instance()) {
        state.violations.push(`harness: container ${info.Id} carries instance ${info.Labels["gantry.instance"]}, expected ${containers.instance()}`);
      }
    }
    report.processesAtKills += taskProcesses(paths.dataDir).length;
    progress(kill);
  }

  // The last start, which must answer too: it is the one the checks talk to.
  await answered((await servers.boot()).url);
}
