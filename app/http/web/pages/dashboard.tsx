// The dashboard: counts, approvals waiting for the viewer, what needs attention (or a welcome on a new install), health (the
// pause switch and the nodes among it) and the newest runs across pipelines. The /live/dashboard stream re-renders its live region
// with the same DashboardLive component, so the page and its updates never disagree.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Page, type PageSession } from "../layouts/page.tsx";
import { NeedsAttention, type BrokenPipeline, type FailingPipeline, type TriggerTroublePipeline } from "../components/dashboard-attention.tsx";
import { HealthCard, type DockerHealth, type ExtensionHealth, type SystemView } from "../components/dashboard-health.tsx";
import type { QueuePlace } from "../../../domain/admission.ts";
import { DashboardRuns, type DashboardRun } from "../components/dashboard-runs.tsx";
import { DashboardWaiting, type WaitingForYou } from "../components/dashboard-waiting.tsx";

export type { SystemView };

export interface DashboardData {
  now: Date;
  /** Where pipeline files go, for the empty state of a new install. */
  pipelinesDir: string;
  /** No pipeline at all on this server (not just none this session may read). */
  newInstall: boolean;
  /** Pipelines the session may read. */
  pipelineCount: number;
  /** Runs pending or running now, of those pipelines. */
  activeRunCount: number;
  /** Runs waiting in the queue, of those pipelines. */
  queuedRunCount: number;
  runs: DashboardRun[];
  /** Approval gates waiting now that this session may decide. */
  waiting: WaitingForYou[];
  /** Where the queued ones among `runs` stand, by runRowKeyString(). */
  queuePlaces: Map<string, QueuePlace>;
  /** The pause switch and the nodes. */
  system: SystemView;
  failing: FailingPipeline[];
  broken: BrokenPipeline[];
  /** Pipelines with a trigger that cannot fire (a missing webhook secret, a refused subscription). */
  triggers: TriggerTroublePipeline[];
  docker: DockerHealth | undefined;
  /** Undefined when the session may not read extensions. */
  extensions: ExtensionHealth[] | undefined;
}

const plural = (count: number, one: string, many: string) => `${count.toLocaleString("en")} ${count === 1 ? one : many}`;

function Counts({ data }: { data: DashboardData }) {
  const problems = data.failing.length + data.broken.length + data.triggers.length;
  return (
    <ul class="dash-counts" aria-label="Counts">
      <li>
        <a href="/pipelines">{plural(data.pipelineCount, "pipeline", "pipelines")}</a>
      </li>
      <li class={data.activeRunCount > 0 ? "dash-count-running" : undefined}>{plural(data.activeRunCount, "run", "runs")} running now</li>
      {data.queuedRunCount > 0 && <li class="dash-count-queued">{plural(data.queuedRunCount, "run", "runs")} queued</li>}
      <li class={problems > 0 ? "dash-count-problem" : undefined}>{plural(problems, "pipeline needs", "pipelines need")} attention</li>
    </ul>
  );
}

/** A new install: where pipeline files go, in place of "Needs attention". */
function Welcome({ pipelinesDir }: { pipelinesDir: string }) {
  return (
    <section class="card dash-welcome" aria-labelledby="dash-welcome-title">
      <h2 id="dash-welcome-title">Welcome to Gantry</h2>
      <p>There are no pipelines yet.</p>
      <p>
        Put a pipeline file (TypeScript, <code>export default definePipeline(&#123;…&#125;)</code>) in the pipelines folder,{" "}
        <code class="dash-path">{pipelinesDir}</code>; it loads within seconds and shows up under <a href="/pipelines">Pipelines</a>, where
        you can start a run.
      </p>
    </section>
  );
}

/** Everything in the live region: rendered into the page and sent by the stream. */
export function DashboardLive({ data }: { data: DashboardData }) {
  return (
    <>
      <Counts data={data} />
      <DashboardWaiting gates={data.waiting} now={data.now} />
      <div class="dash-top">
        {data.newInstall ? (
          <Welcome pipelinesDir={data.pipelinesDir} />
        ) : (
          <NeedsAttention failing={data.failing} broken={data.broken} triggers={data.triggers} now={data.now} />
        )}
        <HealthCard docker={data.docker} extensions={data.extensions} system={data.system} now={data.now} />
      </div>
      <section class="card dash-recent" aria-labelledby="dash-runs-title">
        <h2 id="dash-runs-title">Recent runs</h2>
        {data.runs.length === 0 ? (
          <p class="dash-empty">
            No runs yet. Open a pipeline under <a href="/pipelines">Pipelines</a> to start one; its runs show up here as they happen.
          </p>
        ) : (
          <DashboardRuns runs={data.runs} places={data.queuePlaces} now={data.now} />
        )}
      </section>
    </>
  );
}

export function DashboardPage({ session, data }: { session: PageSession; data: DashboardData }) {
  return (
    <Page title="Dashboard" session={session} section="dashboard">
      <h1>Dashboard</h1>
      <div id="dashboard-live" class="dash-live" hx-sse:connect="/live/dashboard" hx-swap="innerMorph" aria-live="polite">
        <DashboardLive data={data} />
      </div>
    </Page>
  );
}
