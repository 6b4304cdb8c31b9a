// The kill -9 harness (issue 10): kills a real `gantry serve` with SIGKILL at random moments under
// a stream of runs, deliveries and cancels, restarts it on the same data, then checks that nothing
// acknowledged was lost, every run ended, nothing was left behind and no task ran beyond its retries.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Harness } from "./context.ts";
import { drainAndCheck } from "./finish.ts";
import { killAndRestart } from "./kills.ts";
import { killTaskProcesses, serverContainers } from "./leftovers.ts";
import { type KillHarnessOptions, withDefaults } from "./options.ts";
import { HOOK_SECRET, PIPELINES, writePipelines } from "./pipelines.ts";
import { createReport, type KillReport } from "./report.ts";
import { Servers, kill9 } from "./server.ts";
import { createState } from "./state.ts";
import { createWorkdir } from "./workdir.ts";

export type { KillHarnessOptions } from "./options.ts";
export { formatReport, type KillReport } from "./report.ts";

/** Runs the harness; it removes its server, task processes, containers and (unless `keep`) temp folder itself, also when it throws. */
export async function runKillHarness(options: KillHarnessOptions): Promise<KillReport> {
  const began = performance.now();
  const settings = withDefaults(options);
  const paths = createWorkdir();
  // Unique per harness run, so the containers it looks for (and cleans up) are its own.
  const prefix = `k${crypto.randomUUID().slice(0, 4)}-`;
  writePipelines(paths.pipelinesDir, prefix, paths.marksFile);
  const containers = serverContainers(paths.dataDir, prefix);
  const state = createState(prefix);
  const serverErrors: string[] = [];
  const report = createReport(paths.root, state.violations, serverErrors);
  const servers = new Servers(paths, serverErrors);
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${servers.current!.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${state.token}`, "content-type": "application/json" },
      signal: AbortSignal.timeout(30_000),
    });
  const harness: Harness = { settings, began, paths, state, report, servers, containers, api };

  try {
    await firstStart(harness);
    await killAndRestart(harness);
    await drainAndCheck(harness);
  } finally {
    if (servers.current) await kill9(servers.current);
    killTaskProcesses(paths.dataDir);
    await containers.removeAll();
    if (!settings.keep) rmSync(paths.root, { recursive: true, force: true });
  }
  report.deliveriesSent = state.deliveriesSent;
  report.cancelsSent = state.cancelsSent.size;
  report.wallMs = performance.now() - began;
  return report;
}

/** First start: the pipelines load, the bootstrap token and the hook secret are made. */
async function firstStart({ paths, state, servers, api }: Harness): Promise<void> {
  await servers.boot();
  state.token = readFileSync(join(paths.dataDir, "bootstrap-token"), "utf8").trim();
  for (const def of PIPELINES) {
    const response = await api(`/pipelines/default/${state.prefix}${def.name}`);
    const body = (await response.json()) as { pipeline?: { error?: unknown } };
    if (response.status !== 200 || body.pipeline?.error) throw new Error(`pipeline ${state.prefix}${def.name} did not load: ${JSON.stringify(body)}`);
  }
  const secret = await api("/secrets/hook_secret", { method: "PUT", body: JSON.stringify({ value: HOOK_SECRET }) });
  if (secret.status >= 300) throw new Error(`setting the hook secret: ${secret.status} ${await secret.text()}`);
}
