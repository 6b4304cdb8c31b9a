// The dashboard's health card: whether runs start or are paused (with the switch), the
// nodes working on this database, the sandbox and this server's warm runners, whether the
// Docker engine answers and how each extension is doing, as words and symbols (never colour
// alone), with a link to the extensions page.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { RunnerCounts } from "../../../engine/executors/bun-process.ts";
import type { DockerHealth } from "../../../engine/executors/docker.ts";
import type { SystemStatus } from "../../../engine/runs/orchestrator.ts";
import type { ExtensionState } from "../../../extension-host/host.ts";
import type { PageSession } from "../layouts/page.tsx";
import { ExtensionStateBadge } from "./admin-extension-state.tsx";
import { PauseSwitch } from "./pause-switch.tsx";
import { SandboxState } from "./sandbox-banner.tsx";
import type { SandboxStatus } from "../../../engine/executors/run-sandbox.ts";
import { relativeTime, When } from "./time.tsx";

export type { DockerHealth };

export interface SystemView {
  paused: boolean;
  pausedBy: string | null;
  pausedAt: Date | null;
  /** Absent when the session may not read the system (system:read). */
  nodes?: SystemStatus["nodes"];
  /** For the switch's form; absent when the session may not pause runs (system:write). */
  session?: PageSession;
  /** Whether pipeline code runs in the bubblewrap sandbox. */
  sandbox: SandboxStatus;
  /** This server's warm runners and how its run() tasks got theirs; absent without system:read. */
  runners?: RunnerCounts;
  /** Whether the session may download a backup (backups:write). */
  canBackup: boolean;
}

export interface ExtensionHealth {
  id: string;
  state: ExtensionState;
  restarts: number;
  error?: string;
}

function DockerStatus({ docker }: { docker: DockerHealth | undefined }) {
  if (!docker) {
    return (
      <span class="dash-health-state tone-idle">
        <span aria-hidden="true">◔</span> checking…
      </span>
    );
  }
  if (docker.status === "ok") {
    return (
      <>
        <span class="dash-health-state tone-ok">
          <span aria-hidden="true">✓</span> ok
        </span>{" "}
        <span class="muted">engine {docker.version}</span>
      </>
    );
  }
  return (
    <>
      <span class="dash-health-state tone-bad">
        <span aria-hidden="true">✗</span> unavailable
      </span>
      <span class="dash-health-detail">{docker.message}</span>
    </>
  );
}

function RunsStatus({ system, now }: { system: SystemView; now: Date }) {
  return (
    <>
      {system.paused ? (
        <span class="dash-health-state tone-warn">
          <span aria-hidden="true">‖</span> paused
        </span>
      ) : (
        <span class="dash-health-state tone-ok">
          <span aria-hidden="true">▶</span> active
        </span>
      )}
      {system.session && (
        <>
          {" "}
          <PauseSwitch session={system.session} paused={system.paused} id="dash-pause-switch" />
        </>
      )}
      <span class="dash-health-detail">
        {system.paused ? (
          <>
            {system.pausedBy ? `by ${system.pausedBy} ` : ""}
            {"since "}
            <When date={system.pausedAt} now={now} />
            {": new runs wait in the queue"}
          </>
        ) : (
          "new runs start as their concurrency limits allow"
        )}
      </span>
    </>
  );
}

function Nodes({ nodes, now }: { nodes: NonNullable<SystemView["nodes"]>; now: Date }) {
  if (nodes.length === 0) return <span class="muted">none registered</span>;
  return (
    <ul class="dash-nodes">
      {nodes.map((node) => (
        <li>
          {node.alive ? (
            <span class="dash-health-state tone-ok">
              <span aria-hidden="true">✓</span> alive
            </span>
          ) : (
            <span class="dash-health-state tone-bad">
              <span aria-hidden="true">✗</span> {node.stoppedAt ? "stopped" : "silent"}
            </span>
          )}{" "}
          <span class="dash-node-id" title={`process ${node.pid}, Gantry ${node.version}`}>
            {node.id}
          </span>
          {node.self && <span class="muted"> (this server)</span>}
          {/* The age moves on every render: not worth announcing in the polite live region. */}
          <span class="dash-health-detail" aria-live="off">
            {`on ${node.hostname} · heartbeat `}
            <time datetime={node.heartbeatAt.toISOString()} title={node.heartbeatAt.toISOString()}>
              {relativeTime(node.heartbeatAt, now)}
            </time>
            {` · ${node.runs === 1 ? "1 run" : `${node.runs} runs`} driven`}
          </span>
        </li>
      ))}
    </ul>
  );
}

/** This server's warm runners: how many are ready, and how run() tasks got their runners since it started. */
function WarmRunners({ runners }: { runners: RunnerCounts }) {
  const { pool, started } = runners;
  return (
    <>
      {pool.size === 0 ? (
        <span class="dash-health-state tone-idle">
          <span aria-hidden="true">–</span> off or stopped
        </span>
      ) : pool.ready === pool.size ? (
        <span class="dash-health-state tone-ok">
          <span aria-hidden="true">✓</span> {pool.ready} of {pool.size} ready
        </span>
      ) : (
        <span class="dash-health-state tone-idle">
          <span aria-hidden="true">◔</span> {pool.ready} of {pool.size} ready
        </span>
      )}{" "}
      <span class="muted">this server{pool.size === 0 && " (GANTRY_RUN_POOL is 0, or see the server's log)"}</span>
      <span class="dash-health-detail">
        run() tasks in its sandbox since it started: {started.warm} on a warm runner, {started.booting} waited for one booting, {started.own} started their own
        {pool.misses > 0 && `; ${pool.misses} new run${pool.misses === 1 ? "" : "s"} found none ready (if that keeps growing, GANTRY_RUN_POOL may be too small)`}
      </span>
    </>
  );
}

export interface HealthCardProps {
  docker: DockerHealth | undefined;
  /** Undefined when the session may not read extensions. */
  extensions: ExtensionHealth[] | undefined;
  system: SystemView;
  now: Date;
}

export function HealthCard({ docker, extensions, system, now }: HealthCardProps) {
  return (
    <section class="card dash-health" aria-labelledby="dash-health-title">
      <h2 id="dash-health-title">Health</h2>
      <dl class="dash-health-list">
        <dt>Runs</dt>
        <dd class="dash-runs-switch">
          <RunsStatus system={system} now={now} />
        </dd>
        {system.nodes && (
          <>
            <dt>{system.nodes.length === 1 ? "Node" : "Nodes"}</dt>
            <dd>
              <Nodes nodes={system.nodes} now={now} />
            </dd>
          </>
        )}
        {system.canBackup && (
          <>
            <dt>Backup</dt>
            <dd>
              <a href="/system/backup" download>
                Download a backup
              </a>
              <span class="dash-health-detail">database, logs, objects and bundles; not the secret key: keep that apart</span>
            </dd>
          </>
        )}
        <dt>Sandbox</dt>
        <dd>
          <SandboxState sandbox={system.sandbox} />
        </dd>
        {system.runners && system.sandbox.state === "on" && (
          <>
            <dt>Warm runners</dt>
            <dd>
              <WarmRunners runners={system.runners} />
            </dd>
          </>
        )}
        <dt>Docker</dt>
        <dd>
          <DockerStatus docker={docker} />
        </dd>
        {extensions && (
          <>
            <dt>
              <a href="/extensions">Extensions</a>
            </dt>
            <dd>
              {extensions.length === 0 ? (
                <span class="muted">none installed</span>
              ) : (
                <ul class="dash-extensions">
                  {extensions.map((extension) => (
                    <li>
                      <ExtensionStateBadge state={extension.state} /> <span class="dash-extension-id">{extension.id}</span>
                      {extension.restarts > 0 && <span class="muted"> · {extension.restarts} restarts</span>}
                      {extension.error && (
                        <span class="dash-health-detail dash-clamp" title={extension.error}>
                          {extension.error}
                        </span>
                      )}
                    </li>
                  ))}
                </ul>
              )}
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}
