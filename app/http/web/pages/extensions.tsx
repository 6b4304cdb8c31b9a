// The extensions page: every extension the server runs, its state, its error and how many
// subscriptions (of pipelines the caller may read) it serves.
/** @jsxImportSource hono/jsx (here too: Bun reads tsconfig.json only from the working directory) */
import type { ExtensionStatus } from "../../../extension-host/host.ts";
import { ExtensionStateBadge } from "../components/admin-extension-state.tsx";
import { Page, type PageSession } from "../layouts/page.tsx";
import { extensionPath } from "../paths.ts";
import { TableHead } from "../components/table-head.tsx";

export interface ExtensionsPageProps {
  session: PageSession;
  extensions: ExtensionStatus[];
  /** Subscriptions per extension id. */
  subscriptionCounts: Map<string, number>;
}

export function ExtensionsPage({ session, extensions, subscriptionCounts }: ExtensionsPageProps) {
  return (
    <Page title="Extensions" session={session} section="extensions">
      <h1>Extensions</h1>
      <p class="muted">Extensions start runs from outside events (a schedule, a webhook, GitHub). Each runs on its own and is restarted when it crashes.</p>
      <section class="card admin-card" aria-labelledby="extensions-list">
        <h2 id="extensions-list" class="sr-only">
          All extensions
        </h2>
        {extensions.length === 0 ? (
          <p class="muted">No extensions: the extensions folder is empty.</p>
        ) : (
          <table class="list admin-stack">
            <TableHead columns={["Extension", "State", { label: "Subscriptions", class: "num" }, { label: "Restarts", class: "num wide-only" }, "Message"]} />
            <tbody>
              {extensions.map((extension) => (
                <tr>
                  <th scope="row">
                    <a href={extensionPath(extension.id)}>{extension.id}</a>
                  </th>
                  <td>
                    <ExtensionStateBadge state={extension.state} />
                  </td>
                  <td class="num" data-label="Subscriptions">
                    {subscriptionCounts.get(extension.id) ?? 0}
                  </td>
                  <td class="num wide-only" data-label="Restarts">
                    {extension.restarts}
                  </td>
                  <td class="admin-message">{extension.error ? <span class="error">{extension.error}</span> : <span class="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </Page>
  );
}
