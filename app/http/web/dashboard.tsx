// Web pages: the dashboard (/) and its live stream (/live/dashboard), which re-renders the
// page's live region when runs, tasks, pipelines, extensions or the pause switch change.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { isAbsolute, relative } from "node:path";
import { Hono, type Context } from "hono";
import { may } from "../../auth/roles.ts";
import { visibleGates, type VisibleGate } from "../../auth/visible-gates.ts";
import { listQueued, queuePlaces } from "../../db/repos/run-queue.ts";
import { activeRunsByPipeline, pipelineOverviews, recentRuns, type PipelineOverview } from "../../db/repos/run-summaries.ts";
import { listSubscriptions } from "../../db/repos/subscriptions.ts";
import { subscriptionErrors } from "../../extension-host/subscription-status.ts";
import type { TriggerTroublePipeline } from "./components/dashboard-attention.tsx";
import type { WaitingForYou } from "./components/dashboard-waiting.tsx";
import type { DockerExecutor, DockerHealth } from "../../engine/executors/docker.ts";
import { withinTime } from "../../engine/executors/docker-client.ts";
import type { AppEnv } from "../env.ts";
import { requireSession } from "../middleware/session.ts";
import { createWakeup, sse } from "../sse.ts";
import type { PageSession } from "./layouts/page.tsx";
import { pageSession } from "./page-session.ts";
import { DashboardLive, DashboardPage, type DashboardData, type SystemView } from "./pages/dashboard.tsx";

const RECENT_RUNS = 25;
/** At most one re-render of a stream this often, however busy the bus is. */
const RENDER_EVERY_MS = 250;
/** A render this often even without changes, so durations of running runs move. */
const TICK_MS = 5_000;
/** The most a page waits for Docker when there is no earlier answer at all. */
const DOCKER_WAIT_MS = 50;
const RELEVANT = /^(run|task|pipeline|extension|system|approval|node)\./;

/**
 * Docker's health without slowing the page: an engine that hangs takes 2 s to say so, so
 * the page waits at most DOCKER_WAIT_MS and otherwise shows the last answer, or "checking…".
 */
async function dockerHealth(docker: DockerExecutor): Promise<DockerHealth | undefined> {
  return withinTime(docker.health(), DOCKER_WAIT_MS).catch(() => docker.lastHealth());
}

const keyOf = (pipeline: { namespace: string; id: string }) => `${pipeline.namespace}/${pipeline.id}`;

/** A load error's file as people know it: relative to the pipelines folder when inside it. */
function displayFile(dir: string, file: string): string {
  const inside = relative(dir, file);
  return inside && !inside.startsWith("..") && !isAbsolute(inside) ? inside : file;
}

/**
 * The pause switch and, for those who may read the system, the nodes with their heartbeats
 * and this server's warm runners.
 * `session` is there for the switch's form, when the session may pause and resume runs.
 */
async function loadSystem(c: Context<AppEnv>, session: PageSession): Promise<SystemView> {
  const status = await c.get("deps").orchestrator.systemStatus();
  return {
    paused: status.paused,
    pausedBy: status.pausedBy,
    pausedAt: status.pausedAt,
    sandbox: c.get("deps").sandbox.status,
    ...(may(c, "system", "read") && { nodes: status.nodes, runners: c.get("deps").runners() }),
    ...(may(c, "system", "write") && { session }),
    canBackup: may(c, "backups", "write"),
  };
}

/** Readable pipelines with a trigger that cannot fire, each with its subscriptions' errors. */
async function triggerTrouble(c: Context<AppEnv>, readable: PipelineOverview[]): Promise<TriggerTroublePipeline[]> {
  const byKey = new Map(readable.map((pipeline) => [keyOf(pipeline), pipeline]));
  const rows = (await listSubscriptions(c.get("deps").db)).filter((row) => byKey.has(`${row.namespace}/${row.pipelineId}`));
  const errorOf = await subscriptionErrors(c.get("deps"), rows);
  const errors = new Map<string, TriggerTroublePipeline["errors"]>();
  for (const row of rows) {
    const message = errorOf(row);
    const key = `${row.namespace}/${row.pipelineId}`;
    if (message) errors.set(key, [...(errors.get(key) ?? []), { extension: row.extension, message }]);
  }
  return [...errors].map(([key, found]) => ({ ...byKey.get(key)!, errors: found }));
}

/** The waiting gates this session may decide (it reads their runs, and their rules let it decide). */
function waitingForViewer(gates: VisibleGate[], pipelines: Map<string, PipelineOverview>): WaitingForYou[] {
  return gates
    .filter((row) => row.mayDecide)
    .map(({ namespace, pipelineId, runId, taskId, gate, actor }) => ({
      namespace,
      pipelineId,
      runId,
      taskId,
      gate,
      actor,
      pipelineName: pipelines.get(`${namespace}/${pipelineId}`)?.name || pipelineId,
    }));
}

/** What the dashboard shows to this session: only pipelines (and their runs) it may read. */
async function loadDashboard(c: Context<AppEnv>, session: PageSession): Promise<DashboardData> {
  const deps = c.get("deps");
  const [overviews, active, queued, docker, system, gates] = await Promise.all([
    pipelineOverviews(deps.db),
    activeRunsByPipeline(deps.db),
    listQueued(deps.db),
    dockerHealth(deps.docker),
    loadSystem(c, session),
    visibleGates(deps.db, c.get("token"), c.get("permissions")),
  ]);
  const readable = overviews.filter((pipeline) => may(c, "pipelines", "read", keyOf(pipeline)));
  const withRuns = overviews.filter((pipeline) => may(c, "runs", "read", keyOf(pipeline)));
  // Everything readable (the usual case): no filter, so the query walks the created-at
  // index alone. Runs of deleted pipelines are checked one by one below.
  const runs = (
    await recentRuns(deps.db, RECENT_RUNS, withRuns.length === overviews.length ? {} : { pipelines: withRuns })
  ).filter((run) => may(c, "runs", "read", `${run.namespace}/${run.pipelineId}`));
  const byKey = new Map<string, PipelineOverview>(overviews.map((pipeline) => [keyOf(pipeline), pipeline]));
  const [places, triggers] = await Promise.all([queuePlaces(deps.db, runs), triggerTrouble(c, readable)]);
  const now = deps.now();
  return {
    now,
    pipelinesDir: deps.config.pipelinesDir,
    newInstall: overviews.length === 0,
    pipelineCount: readable.length,
    activeRunCount: withRuns.reduce((sum, pipeline) => sum + (active.get(keyOf(pipeline)) ?? 0), 0),
    queuedRunCount: queued.filter((run) => may(c, "runs", "read", `${run.key.namespace}/${run.key.id}`)).length,
    queuePlaces: places,
    system,
    waiting: waitingForViewer(gates, byKey),
    runs: runs.map((run) => {
      const pipeline = byKey.get(`${run.namespace}/${run.pipelineId}`);
      return { ...run, pipelineName: pipeline?.name ?? run.pipelineId, pipelineDescription: pipeline?.description ?? "" };
    }),
    failing: withRuns.flatMap((pipeline) =>
      pipeline.lastRun?.state === "failed" ? [{ ...pipeline, lastRun: pipeline.lastRun }] : [],
    ),
    broken: readable.flatMap((pipeline) =>
      pipeline.loadError ? [{ ...pipeline, loadError: pipeline.loadError, file: displayFile(deps.config.pipelinesDir, pipeline.loadError.file) }] : [],
    ),
    triggers,
    docker,
    extensions: may(c, "extensions", "read")
      ? deps.extensions
          .list()
          .map(({ id, state, restarts, error }) => ({ id, state, restarts, ...(error && { error }) }))
          .sort((a, b) => a.id.localeCompare(b.id))
      : undefined,
  };
}

export const dashboardPages = new Hono<AppEnv>()
  .get("/", requireSession, async (c) => {
    const session = await pageSession(c);
    return c.html(<DashboardPage session={session} data={await loadDashboard(c, session)} />);
  })
  .get("/live/dashboard", requireSession, async (c) => {
    const deps = c.get("deps");
    // The switch in the live region comes back to the dashboard.
    const session = await pageSession(c, "/");
    return sse(c, async (stream, signal) => {
      const wakeup = createWakeup(signal);
      const unsubscribe = deps.bus.subscribe((message) => {
        if (RELEVANT.test(message.kind)) wakeup.wake();
      });
      let data: DashboardData | undefined;
      let changed = true;
      let sent = "";
      try {
        while (!signal.aborted) {
          // A change reads the database again; a quiet tick only moves the clock (running
          // durations, "2m ago") and asks Docker and the nodes, whose health the bus does not announce.
          data =
            changed || !data
              ? await loadDashboard(c, session)
              : { ...data, now: deps.now(), docker: await dockerHealth(deps.docker), system: await loadSystem(c, session) };
          const html = String(await (<DashboardLive data={data} />).toString());
          // Identical renders (a bus message about something this page does not show) are not sent.
          if (html !== sent) {
            await stream.writeSSE({ data: html });
            sent = html;
          }
          await wakeup.pause(RENDER_EVERY_MS);
          // Woken by a change (at once if one came while rendering), or after a while anyway.
          changed = await wakeup.sleep(TICK_MS);
        }
      } finally {
        unsubscribe();
      }
    });
  });
