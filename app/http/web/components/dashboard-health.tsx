// The dashboard's health card: whether the Docker engine answers and how each extension
// is doing, as words and symbols (never colour alone), with a link to the extensions page.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { DockerHealth } from "../../../engine/executors/docker.ts";
import type { ExtensionState } from "../../../extension-host/host.ts";
import { ExtensionStateBadge } from "./admin-extension-state.tsx";

export type { DockerHealth };

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

/** `extensions` is undefined when the session may not read extensions. */
export function HealthCard({ docker, extensions }: { docker: DockerHealth | undefined; extensions: ExtensionHealth[] | undefined }) {
  return (
    <section class="card dash-health" aria-labelledby="dash-health-title">
      <h2 id="dash-health-title">Health</h2>
      <dl class="dash-health-list">
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
