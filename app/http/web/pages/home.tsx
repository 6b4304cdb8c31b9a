// The signed-in landing page until the dashboard arrives: who you are and where to go.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import { Page } from "../layouts/page.tsx";

export function HomePage({ who, csrfToken, pipelines }: { who: string; csrfToken: string; pipelines: { namespace: string; id: string; error: boolean }[] }) {
  return (
    <Page title="Home" session={{ who, csrfToken }}>
      <section class="card">
        <h1>Pipelines</h1>
        {pipelines.length === 0 ? (
          <p>No pipelines yet: drop a .ts file into the pipelines folder.</p>
        ) : (
          <ul>
            {pipelines.map((pipeline) => (
              <li>
                {pipeline.namespace}/{pipeline.id}
                {pipeline.error && <span class="error"> (load error)</span>}
              </li>
            ))}
          </ul>
        )}
        <p>
          The API is described at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.
        </p>
      </section>
    </Page>
  );
}
