// One extension's page: its state and error, the subscriptions it serves (with their
// params, source and problems), and its recent log, oldest line first.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { SubscriptionRow } from "../../../db/repos/subscriptions.ts";
import type { ExtensionStatus } from "../../../extension-host/host.ts";
import { ExtensionStateBadge } from "../components/admin-extension-state.tsx";
import { summarize } from "../components/event-row.tsx";
import { When } from "../components/time.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";
import { pipelinePath } from "../paths.ts";
import { TableHead } from "../components/table-head.tsx";

export interface ExtensionPageProps {
  session: PageSession;
  now: Date;
  extension: ExtensionStatus;
  subscriptions: { row: SubscriptionRow; error?: string }[];
}

export function ExtensionPage({ session, now, extension, subscriptions }: ExtensionPageProps) {
  return (
    <Page title={`Extension ${extension.id}`} session={session} section="extensions">
      <nav aria-label="Breadcrumb" class="admin-crumbs">
        <a href="/extensions">Extensions</a> <span aria-hidden="true">/</span> <span>{extension.id}</span>
      </nav>
      <h1>
        Extension <span class="mono">{extension.id}</span> <ExtensionStateBadge state={extension.state} />
      </h1>
      <section class="card admin-card" aria-labelledby="extension-facts">
        <h2 id="extension-facts">Details</h2>
        <dl class="facts">
          <dt>State</dt>
          <dd>{extension.state}</dd>
          <dt>Source</dt>
          <dd class="mono">{extension.file}</dd>
          <dt>Restarts</dt>
          <dd>{extension.restarts}</dd>
          <dt>Message</dt>
          <dd>{extension.error ? <span class="error">{extension.error}</span> : <span class="muted">none</span>}</dd>
        </dl>
      </section>
      <section class="card admin-card" aria-labelledby="extension-subscriptions">
        <h2 id="extension-subscriptions">Subscriptions ({subscriptions.length})</h2>
        {subscriptions.length === 0 ? (
          <p class="muted">No pipeline subscribes to this extension (or none you may see).</p>
        ) : (
          <table class="list admin-stack">
            <TableHead columns={["Pipeline", "Params", "Source", { label: "Since", class: "wide-only" }, "Problem"]} />
            <tbody>
              {subscriptions.map(({ row, error }) => (
                <tr>
                  <th scope="row">
                    <a href={pipelinePath({ namespace: row.namespace, id: row.pipelineId })}>
                      {row.namespace}/{row.pipelineId}
                    </a>
                  </th>
                  <td data-label="Params">
                    <code title={JSON.stringify(row.params)}>{summarize(row.params) || "none"}</code>
                  </td>
                  <td data-label="Source">{row.source === "file" ? "pipeline file" : "API"}</td>
                  <td class="wide-only">
                    <When date={row.createdAt} now={now} />
                  </td>
                  <td data-label="Problem">{error ? <span class="error">{error}</span> : <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card admin-card" aria-labelledby="extension-log">
        <h2 id="extension-log">Recent log</h2>
        {extension.log.length === 0 ? (
          <p class="muted">Nothing logged yet.</p>
        ) : (
          <>
            <p class="hint">The last {extension.log.length} lines, oldest first.</p>
            <ol class="admin-log" tabindex={0} aria-label={`Log of ${extension.id}`}>
              {extension.log.map((line) => (
                <li>{line}</li>
              ))}
            </ol>
          </>
        )}
      </section>
    </Page>
  );
}
